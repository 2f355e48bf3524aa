package portal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// serve runs one GET through the handler as the router would.
func serve(h *Handler, path, ifNoneMatch string) *fasthttp.Response {
	var c fasthttp.RequestCtx
	c.Request.SetRequestURI("/app-portal/" + path)
	c.Request.Header.SetMethod(fasthttp.MethodGet)
	if ifNoneMatch != "" {
		c.Request.Header.Set("If-None-Match", ifNoneMatch)
	}
	c.SetUserValue("path", path)
	h.Serve(&c)
	resp := &fasthttp.Response{}
	c.Response.CopyTo(resp)
	return resp
}

func TestServe(t *testing.T) {
	h, err := New(Config{FrameAncestors: []string{"'self'", "https://app.example.com"}, PlatformName: `Acme "<b>"`, PrimaryColor: "#112233"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, ctype string
		status      int
	}{
		{"", "text/html; charset=utf-8", 200},
		{"endpoints", "text/html; charset=utf-8", 200}, // any route of the page
		{"assets/app.js", "text/javascript; charset=utf-8", 200},
		{"assets/portal.css", "text/css; charset=utf-8", 200},
		{"assets/vendor/htm-preact-standalone.mjs", "text/javascript; charset=utf-8", 200},
		{"assets/vendor/LICENSE-htm.txt", "", 404},
		{"assets/nope.js", "", 404},
	}
	for _, tc := range cases {
		resp := serve(h, tc.path, "")
		if resp.StatusCode() != tc.status || (tc.ctype != "" && string(resp.Header.ContentType()) != tc.ctype) {
			t.Errorf("%q: %d %s, want %d %s", tc.path, resp.StatusCode(), resp.Header.ContentType(), tc.status, tc.ctype)
		}
		csp := string(resp.Header.Peek("Content-Security-Policy"))
		for _, want := range []string{"script-src 'self';", "style-src 'self';", "default-src 'none'", "frame-ancestors 'self' https://app.example.com"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%q: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%q: CSP allows unsafe sources: %s", tc.path, csp)
		}
		if string(resp.Header.Peek("X-Content-Type-Options")) != "nosniff" {
			t.Errorf("%q: no nosniff", tc.path)
		}
	}
	page := string(serve(h, "", "").Body())
	if !strings.Contains(page, `data-platform-name="Acme &#34;&lt;b&gt;&#34;"`) {
		t.Errorf("platform name not escaped into the page: %s", page)
	}
	etag := string(serve(h, "assets/app.js", "").Header.Peek("ETag"))
	if r := serve(h, "assets/app.js", etag); etag == "" || r.StatusCode() != fasthttp.StatusNotModified {
		t.Errorf("If-None-Match %s: %d", etag, r.StatusCode())
	}
}

func TestFrameAncestorsRefused(t *testing.T) {
	for _, bad := range []string{"https://a.example; script-src *", "self", "https://a.example b", ""} {
		if _, err := New(Config{FrameAncestors: []string{bad}}); err == nil {
			t.Errorf("frame ancestor %q accepted", bad)
		}
	}
}

// TestVendorChecksum: the committed third-party file is the one
// vendor.sha256 names (make portal-vendor fetches and checks it).
func TestVendorChecksum(t *testing.T) {
	f, err := os.Open("vendor.sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		body, err := assets.ReadFile("assets/vendor/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s: sha256 %x, want %s", name, sum, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("vendor.sha256 lists nothing")
	}
}

// TestAssetsBudget keeps the portal small and free of code that a strict
// CSP would refuse or that renders API data as markup.
func TestAssetsBudget(t *testing.T) {
	total := len(indexSource)
	err := fs.WalkDir(assets, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, _ := assets.ReadFile(name)
		total += len(body)
		if strings.HasSuffix(name, "/app.js") {
			for _, bad := range []string{"innerHTML", "dangerouslySetInnerHTML", "eval(", "new Function", "document.write", "insertAdjacentHTML"} {
				if bytes.Contains(body, []byte(bad)) {
					t.Errorf("%s uses %s", name, bad)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 300<<10 {
		t.Errorf("portal is %d bytes, budget 300 KiB", total)
	}
	inline := regexp.MustCompile(`<script(?:\s+type="module")?>|\sstyle=|\son[a-z]+=`)
	if inline.MatchString(indexSource) {
		t.Errorf("index.html has inline script, style or handler")
	}
}
