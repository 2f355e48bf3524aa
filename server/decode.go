package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/valyala/fasthttp"
)

// decodeBody parses the request body into v. As in Svix, a body that is not
// JSON, has a value of the wrong type or is empty is a 422 with one
// "value_error.jsondecode" entry.
func decodeBody(c *fasthttp.RequestCtx, v any) error {
	body := c.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		return jsonDecodeError([]string{"body"}, "a JSON object is required; the body is empty")
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
			return jsonDecodeError(loc, "expected "+jsonKind(typ.Type.Kind().String())+", got JSON "+typ.Value)
		case errors.As(err, &syn):
			return jsonDecodeError([]string{"body"}, "not valid JSON: "+syn.Error()+" at offset "+strconv.FormatInt(syn.Offset, 10))
		default:
			return jsonDecodeError([]string{"body"}, "not valid JSON: "+err.Error())
		}
	}
	return nil
}

// fastDecode are the options of the message decoder's fast path: names
// match case-insensitively but with '_' and '-' significant, as in
// encoding/json ("event_type" is not "eventType").
var fastDecode = jsonv2.JoinOptions(jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true))

// decodeMessage decodes a message body. It is the ingest hot path, where
// encoding/json (reflection, and two scans of every payload byte) was the
// largest cost of a request: the body is decoded by the JSON v2
// implementation (github.com/go-json-experiment/json, about five times
// faster here). A body that decoder refuses is decoded again by decodeBody,
// which gives the usual error, or the value for the few inputs that
// encoding/json accepts and v2 does not (invalid UTF-8, duplicate names).
// FuzzDecodeMessage checks that v2 accepts nothing encoding/json refuses
// and decodes what it accepts the same way.
func decodeMessage(c *fasthttp.RequestCtx, in *messageIn) error {
	if err := jsonv2.Unmarshal(c.PostBody(), in, fastDecode); err == nil {
		return nil
	}
	*in = messageIn{}
	return decodeBody(c, in)
}

func jsonDecodeError(loc []string, msg string) error {
	return &validationError{fields: []fieldError{{Loc: loc, Msg: msg, Type: "value_error.jsondecode"}}}
}

// jsonKind names a Go kind the way a JSON user thinks of it.
func jsonKind(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "ptr", "interface":
		return "a value"
	}
	return "a number"
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
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	v.badQuery("must be true or false", name)
	return false
}

// queryTime reads an RFC 3339 time query parameter.
func queryTime(c *fasthttp.RequestCtx, name string, v *violations) time.Time {
	s := query(c, name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.badQuery("must be an RFC 3339 date-time with a time zone", name)
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
