package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

//go:embed assets
var assets embed.FS

//go:embed index.html
var indexSource string

// Config is how the portal presents itself by default; a link's query
// parameters may override the look (name, logo, colours), never the
// framing policy.
type Config struct {
	// FrameAncestors are the CSP frame-ancestors sources; empty means 'self'.
	FrameAncestors []string
	PlatformName   string
	LogoURL        string
	PrimaryColor   string
}

// Handler serves the portal's page and assets.
type Handler struct {
	csp   string
	index []byte
	files map[string]asset
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

// ErrBadFrameAncestor is returned for a frame-ancestors source that could
// break out of the directive.
var ErrBadFrameAncestor = errors.New("portal: frame ancestor must be 'self', 'none' or scheme://host without spaces, quotes, ';' or ','")

// New renders the page for cfg and indexes the embedded assets.
func New(cfg Config) (*Handler, error) {
	ancestors := cfg.FrameAncestors
	if len(ancestors) == 0 {
		ancestors = []string{"'self'"}
	}
	for _, a := range ancestors {
		if !validFrameSource(a) {
			return nil, ErrBadFrameAncestor
		}
	}
	h := &Handler{
		// img-src allows https: images because a platform's logo (config,
		// link or the icon parameter) lives on its own host; no content
		// from the API is ever rendered as markup, so no image is injected.
		csp: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
			"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; " +
			"frame-ancestors " + strings.Join(ancestors, " "),
		files: make(map[string]asset),
	}
	tmpl, err := template.New("index").Parse(indexSource)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, cfg); err != nil {
		return nil, err
	}
	h.index = buf.Bytes()
	err = fs.WalkDir(assets, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path.Base(name), "LICENSE") {
			return err
		}
		body, err := assets.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(name))
		if path.Ext(name) == ".mjs" || path.Ext(name) == ".js" {
			ctype = "text/javascript; charset=utf-8"
		}
		h.files[strings.TrimPrefix(name, "assets/")] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return h, err
}

// validFrameSource accepts 'self', 'none' and scheme://host[:port] (host
// may start with *.), nothing that could end the directive.
func validFrameSource(s string) bool {
	if s == "'self'" || s == "'none'" {
		return true
	}
	scheme, host, ok := strings.Cut(s, "://")
	return ok && (scheme == "https" || scheme == "http") && host != "" &&
		!strings.ContainsAny(host, " \t\r\n;,'\"/\\")
}

// Serve answers GET /app-portal/{path}: the page for "" and any route of
// the page, the asset for assets/<file>, 404 for other asset names.
func (h *Handler) Serve(c *fasthttp.RequestCtx) {
	hd := &c.Response.Header
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), clipboard-write=(self)")
	p, _ := c.UserValue("path").(string)
	if name, ok := strings.CutPrefix(p, "assets/"); ok {
		a, found := h.files[name]
		if !found {
			c.SetStatusCode(fasthttp.StatusNotFound)
			hd.SetContentType("text/plain; charset=utf-8")
			c.SetBodyString("not found")
			return
		}
		hd.Set("ETag", a.etag)
		// Revalidated on every load: assets change with the binary and
		// carry no version in their names.
		hd.Set("Cache-Control", "no-cache")
		if string(c.Request.Header.Peek("If-None-Match")) == a.etag {
			c.SetStatusCode(fasthttp.StatusNotModified)
			return
		}
		hd.SetContentType(a.ctype)
		c.SetBody(a.body)
		return
	}
	hd.Set("Cache-Control", "no-store")
	hd.SetContentType("text/html; charset=utf-8")
	c.SetBody(h.index)
}
