// Package web serves Parley's browser client: plain ES modules, HTML and
// CSS embedded in the binary, with no build step. The client speaks only
// the public HTTP API and the Socket.IO contract, so it is also the
// reference client for docs/api.md.
//
// Every answer carries a strict Content-Security-Policy (scripts only from
// this origin, no inline script, Trusted Types required for script sinks)
// because the page shows text other people wrote: nothing a message
// contains may ever run.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	gzipped     []byte // nil when compression does not pay
	etag        string
	contentType string
}

// Handler serves the client: GET and HEAD of "/" (the page) and of the
// embedded files. It is meant to sit behind the API's more specific routes
// ("/v1/", "/socket.io/"), which keep precedence in the mux.
type Handler struct {
	assets map[string]*asset
}

// New loads the embedded files. It fails only when the binary was built
// without them, which is a bug.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]*asset{}}
	// One compressor for every file: each takes about a megabyte at this
	// level, which would otherwise be allocated again per file at start.
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestCompression)
	root, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		h.assets["/"+p] = newAsset(p, b, zw)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.assets["/"] = h.assets["/index.html"]
	return h, nil
}

// newAsset prepares one file; zw is reset for its compressed copy.
func newAsset(name string, b []byte, zw *gzip.Writer) *asset {
	sum := sha256.Sum256(b)
	a := &asset{body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, contentType: contentType(name)}
	if compressible(a.contentType) && len(b) > 512 {
		var buf bytes.Buffer
		zw.Reset(&buf)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b)*9/10 {
			a.gzipped = buf.Bytes()
		}
	}
	return a
}

// contentType is set from the extension, never sniffed: the files are
// ours and their types are known.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".json":
		return "application/json"
	case ".webmanifest":
		return "application/manifest+json"
	default:
		return "text/plain; charset=utf-8"
	}
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "application/") || ct == "image/svg+xml"
}

// ContentSecurityPolicy is the policy for the client served to host. The
// page loads only its own scripts and styles; images come from this origin
// or from blob: URLs (media is fetched with the bearer token and shown from
// a blob); connections go to this origin over HTTP(S) and WebSocket. Script
// URLs pass only through the "parley" Trusted Types policy, which admits
// the service worker's fixed URL and nothing else; there is no policy that
// makes HTML.
func ContentSecurityPolicy(host string) string {
	connect := "'self'"
	if validHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
		"media-src 'self' blob:; connect-src " + connect + "; worker-src 'self'; manifest-src 'self'; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'; trusted-types parley"
}

// validHost admits host names, IPv4 and bracketed IPv6 addresses with an
// optional port: the Host header is the client's, and only these may go
// into the policy.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune(".-:[]", c):
		default:
			return false
		}
	}
	return true
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy(r.Host))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	a, ok := h.assets[r.URL.Path]
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	// No file name carries a version, so the browser revalidates every
	// time; the ETag makes that a 304 without a body.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	hdr.Set("Vary", "Accept-Encoding")
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gzipped != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = a.gzipped
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) == "gzip" || strings.TrimSpace(name) == "*" {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
