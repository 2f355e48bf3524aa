package server

import (
	_ "embed"
	"net/http"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
	"sigs.k8s.io/yaml"
)

// openapiYAML describes every route the API serves. It is written by hand
// as the contract; tests check that it names exactly the router's routes
// and validate real responses of each against it.
//
//go:embed openapi.yaml
var openapiYAML []byte

// openapiJSON is the document as served, converted once.
var openapiJSON = func() []byte {
	b, err := yaml.YAMLToJSON(openapiYAML)
	if err != nil {
		panic("server: openapi.yaml is not valid YAML: " + err.Error())
	}
	return b
}()

// OpenAPI returns the API's OpenAPI 3 document as JSON.
func OpenAPI() []byte { return openapiJSON }

func (s *Server) serveOpenAPI(c *fasthttp.RequestCtx) {
	writeRaw(c, http.StatusOK, openapiJSON)
}

// Routes lists the routes the API registers, by method, as the router
// spells their paths (tests compare them with the OpenAPI document).
func Routes() map[string][]string {
	r := router.New()
	(&Server{}).routes(r)
	return r.List()
}
