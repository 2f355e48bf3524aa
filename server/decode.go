package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// decodeBody parses the request body into v. Malformed JSON is a 400; a
// value of the wrong type is a 422 naming the field, as Svix answers.
func decodeBody(c *fasthttp.RequestCtx, v any) error {
	body := c.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "invalid_json", "The request body is empty; a JSON object is required.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var (
			syn *json.SyntaxError
			typ *json.UnmarshalTypeError
		)
		switch {
		case errors.As(err, &typ):
			loc := []string{"body"}
			if typ.Field != "" {
				loc = append(loc, strings.Split(typ.Field, ".")...)
			}
			return &validationError{fields: []fieldError{{
				Loc: loc, Msg: "expected " + typ.Type.String() + ", got JSON " + typ.Value, Type: "type_error",
			}}}
		case errors.As(err, &syn):
			return errorf(http.StatusBadRequest, "invalid_json", "The request body is not valid JSON: "+syn.Error()+" at offset "+strconv.FormatInt(syn.Offset, 10)+".")
		default:
			return errorf(http.StatusBadRequest, "invalid_json", "The request body is not valid JSON: "+err.Error())
		}
	}
	return nil
}

// nullable is a PATCH field: absent (leave as is), null (clear) or a value.
type nullable[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records that the field was present.
func (n *nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Null = true
		return nil
	}
	return json.Unmarshal(b, &n.Value)
}

// query returns a query parameter ("" when absent).
func query(c *fasthttp.RequestCtx, name string) string {
	return string(c.QueryArgs().Peek(name))
}

// queryBool reads a boolean query parameter.
func queryBool(c *fasthttp.RequestCtx, name string, v *violations) bool {
	s := query(c, name)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		v.addQuery("must be true or false", name)
	}
	return b
}

// queryTime reads an RFC 3339 time query parameter.
func queryTime(c *fasthttp.RequestCtx, name string, v *violations) time.Time {
	s := query(c, name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.addQuery("must be an RFC 3339 date-time", name)
	}
	return t
}

// queryList reads a parameter that may repeat or be comma separated.
func queryList(c *fasthttp.RequestCtx, name string) []string {
	var out []string
	for _, raw := range c.QueryArgs().PeekMulti(name) {
		for p := range strings.SplitSeq(string(raw), ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
