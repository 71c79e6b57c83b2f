package main

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// checkDashboard checks that every metric the Grafana dashboard at path
// queries is in fams, a live node's scrape.
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	walk(dash)
	if len(exprs) < 20 {
		t.Fatalf("%s: only %d queries found", path, len(exprs))
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		names := promQLMetrics(e)
		if len(names) == 0 {
			t.Errorf("no metric found in %q", e)
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	var missing []string
	for n := range seen {
		if !scraped(fams, n) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard queries metrics a node does not serve: %v", missing)
	}
	t.Logf("%d queries over %d metrics, all served", len(exprs), len(seen))
}

// scraped reports whether a sample named n is in fams: a family of that
// name, or the _bucket, _sum or _count series of a histogram.
func scraped(fams map[string]*dto.MetricFamily, n string) bool {
	if fams[n] != nil {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(n, suffix); ok {
			if f := fams[base]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	// Grafana's label_values(metric, label) names a label after the metric.
	labelValues  = regexp.MustCompile(`label_values\(([^,)]*),[^)]*\)`)
	promKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true,
		"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true,
		"count_values": true, "inf": true, "nan": true, "e": true,
	}
)

// promQLMetrics returns the metric names a PromQL expression selects:
// identifiers outside strings, label matchers, ranges and grouping
// clauses that are neither a function call nor a keyword.
func promQLMetrics(expr string) []string {
	s := labelValues.ReplaceAllString(expr, "$1")
	s = promStrings.ReplaceAllString(s, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRanges.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if loc[0] > 0 && (s[loc[0]-1] == '$' || s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // a variable or part of a number
		}
		if strings.HasPrefix(rest, "(") || promKeywords[strings.ToLower(name)] {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestPromQLMetrics(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`histogram_quantile(0.99, sum by (le, route) (rate(parley_http_request_duration_seconds_bucket{instance=~"$instance",route!="x{y}"}[$__rate_interval])))`, "parley_http_request_duration_seconds_bucket"},
		{`sum(rate(a_total[5m])) / sum(rate(b_count{x="1"}[5m]))`, "a_total b_count"},
		{`label_values(parley_build_info, instance)`, "parley_build_info"},
		{`go_goroutines{instance=~"$instance"} > 1e3`, "go_goroutines"},
	} {
		if got := strings.Join(promQLMetrics(tc.expr), " "); got != tc.want {
			t.Errorf("promQLMetrics(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}
