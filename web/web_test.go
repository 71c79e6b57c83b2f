package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley/web"
)

func MustHandler(tb testing.TB) *web.Handler {
	tb.Helper()
	h, err := web.New()
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, path string, hdr map[string]string) *http.Response {
	r := httptest.NewRequest(method, "http://chat.example:8080"+path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestServe(t *testing.T) {
	h := MustHandler(t)
	for _, tc := range []struct {
		path, contentType string
	}{
		{"/", "text/html; charset=utf-8"},
		{"/index.html", "text/html; charset=utf-8"},
		{"/js/main.js", "text/javascript; charset=utf-8"},
		{"/vendor/socket.io.esm.min.js", "text/javascript; charset=utf-8"},
		{"/sw.js", "text/javascript; charset=utf-8"},
		{"/app.css", "text/css; charset=utf-8"},
		{"/icon.svg", "image/svg+xml"},
		{"/manifest.webmanifest", "application/manifest+json"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := get(h, "GET", tc.path, nil)
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			csp := res.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "require-trusted-types-for 'script'", "trusted-types parley", "connect-src 'self' ws://chat.example:8080 wss://chat.example:8080", "object-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("CSP allows something unsafe: %q", csp)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		if res := get(h, "GET", "/nope.js", nil); res.StatusCode != 404 {
			t.Errorf("status %d", res.StatusCode)
		}
	})
	t.Run("ErrMethod", func(t *testing.T) {
		res := get(h, "POST", "/", nil)
		if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
		}
	})
	t.Run("Head", func(t *testing.T) {
		res := get(h, "HEAD", "/js/main.js", nil)
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Length") == "" {
			t.Errorf("status %d, %d body bytes, length %q", res.StatusCode, len(b), res.Header.Get("Content-Length"))
		}
	})
	t.Run("BadHostLeftOut", func(t *testing.T) {
		if csp := web.ContentSecurityPolicy("evil; script-src *"); strings.Contains(csp, "evil") {
			t.Errorf("CSP carries the Host header: %q", csp)
		}
	})
}

func TestETag(t *testing.T) {
	h := MustHandler(t)
	res := get(h, "GET", "/js/store.js", nil)
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, res.Header.Get("Cache-Control"))
	}
	if res := get(h, "GET", "/js/store.js", map[string]string{"If-None-Match": etag}); res.StatusCode != 304 {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}
	if res := get(h, "GET", "/js/store.js", map[string]string{"If-None-Match": `"other"`}); res.StatusCode != 200 {
		t.Errorf("other ETag: status %d, want 200", res.StatusCode)
	}
}

func TestGzip(t *testing.T) {
	h := MustHandler(t)
	plain, _ := io.ReadAll(get(h, "GET", "/app.css", nil).Body)
	res := get(h, "GET", "/app.css", map[string]string{"Accept-Encoding": "br, gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("Content-Encoding %q, Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain) {
		t.Error("gzipped body differs from the plain one")
	}
	if res := get(h, "GET", "/app.css", map[string]string{"Accept-Encoding": "gzip;q=0"}); res.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent though refused")
	}
}

// TestGzipEveryFile checks each file's compressed copy (they share one
// compressor at start) against its plain body.
func TestGzipEveryFile(t *testing.T) {
	h := MustHandler(t)
	zipped := 0
	err := filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := "/" + filepath.ToSlash(strings.TrimPrefix(p, "static"+string(filepath.Separator)))
		plain, _ := io.ReadAll(get(h, "GET", name, nil).Body)
		res := get(h, "GET", name, map[string]string{"Accept-Encoding": "gzip"})
		if res.Header.Get("Content-Encoding") != "gzip" {
			return nil
		}
		zipped++
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return nil
		}
		if unzipped, err := io.ReadAll(zr); err != nil || !bytes.Equal(unzipped, plain) {
			t.Errorf("%s: gzipped body differs from the plain one (%v)", name, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if zipped < 2 {
		t.Fatalf("%d files served gzipped; the test needs several", zipped)
	}
}

// TestFirstLoadSize keeps the first load (the page and everything it
// loads: every file but the service worker and the licence) under 200 KB
// compressed.
func TestFirstLoadSize(t *testing.T) {
	h := MustHandler(t)
	total := 0
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "sw.js" || strings.HasSuffix(p, ".LICENSE") {
			return err
		}
		res := get(h, "GET", "/"+p, map[string]string{"Accept-Encoding": "gzip"})
		n, _ := io.Copy(io.Discard, res.Body)
		total += int(n)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first load: %d bytes compressed", total)
	if total > 200_000 {
		t.Errorf("first load is %d bytes compressed, over 200 KB", total)
	}
}

// TestNoMarkupSinks guards the rule that nothing becomes markup: the
// client's own code never uses an HTML sink or evaluates strings.
func TestNoMarkupSinks(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createHTML|srcdoc|setAttribute\(\s*["']on`)
	err := filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "vendor") || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if sinks.MatchString(line) {
				t.Errorf("%s:%d uses a markup sink: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`<script(\s+type="module")?>|\son[a-z]+=|\sstyle=`).Match(index) {
		t.Error("index.html has inline script, an inline handler or an inline style")
	}
}

// TestVendoredSocketIO proves the committed Socket.IO client is the
// package pinned by package-lock.json (installed with npm ci --prefix web),
// byte for byte, with its licence. Run scripts/vendor-web to update it.
func TestVendoredSocketIO(t *testing.T) {
	for committed, pinned := range map[string]string{
		"static/vendor/socket.io.esm.min.js":     "node_modules/socket.io-client/dist/socket.io.esm.min.js",
		"static/vendor/socket.io-client.LICENSE": "node_modules/socket.io-client/LICENSE",
	} {
		want, err := os.ReadFile(pinned)
		if err != nil {
			t.Fatalf("%v; run: npm ci --prefix web", err)
		}
		got, err := os.ReadFile(committed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the pinned %s; run scripts/vendor-web", committed, pinned)
		}
	}
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(lock, []byte(`"node_modules/socket.io-client"`)) {
		t.Error("package-lock.json does not pin socket.io-client")
	}
}

// TestPreloads keeps index.html's modulepreload list complete: every module
// the page imports is fetched at once, not one import level at a time.
func TestPreloads(t *testing.T) {
	index, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") || p == "static/sw.js" || p == "static/js/main.js" {
			return err
		}
		link := `<link rel="modulepreload" href="` + strings.TrimPrefix(p, "static") + `">`
		if !bytes.Contains(index, []byte(link)) {
			t.Errorf("index.html lacks %s", link)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestJavaScriptUnits runs the client's unit tests (unit/*.test.mjs) with
// node's test runner. A missing node fails: the tests are part of CI.
func TestJavaScriptUnits(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; install Node.js ≥ 18")
	}
	files, _ := filepath.Glob(filepath.Join("unit", "*.test.mjs"))
	if len(files) == 0 {
		t.Fatal("no unit tests found")
	}
	out, err := exec.Command(node, append([]string{"--test"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
