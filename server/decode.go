package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/valyala/fasthttp"
)

// decodeBody parses the request body into v. As in Svix, a body that is not
// JSON, has a value of the wrong type or is empty is a 422 with one
// "value_error.jsondecode" entry. So is JSON that encoding/json would take
// but that means something else to another parser (checkStrictJSON), and an
// unknown field on one of Herald's own objects (closedObject). The
// Content-Type header is not looked at: `curl -d` sends JSON as a form.
func decodeBody(c *fasthttp.RequestCtx, v any) error {
	body := c.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		return jsonDecodeError([]string{"body"}, "a JSON object is required; the body is empty")
	}
	if err := checkStrictJSON(body); err != nil {
		return err
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
			if msg, ok := intRangeMessage(typ); ok {
				return jsonDecodeError(loc, msg)
			}
			return jsonDecodeError(loc, "expected "+jsonKind(typ.Type.Kind().String())+", got JSON "+typ.Value)
		case errors.As(err, &syn):
			return jsonDecodeError([]string{"body"}, "not valid JSON: "+syn.Error()+" at offset "+strconv.FormatInt(syn.Offset, 10))
		default:
			return jsonDecodeError([]string{"body"}, "not valid JSON: "+err.Error())
		}
	}
	return checkFields(body, reflect.TypeOf(v), []string{"body"})
}

// fastDecode are the options of the message decoder's fast path: names
// match case-insensitively but with '_' and '-' significant, as in
// encoding/json ("event_type" is not "eventType").
var fastDecode = jsonv2.JoinOptions(jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true))

// decodeMessage decodes a message body. It is the ingest hot path, where
// encoding/json (reflection, and two scans of every payload byte) was the
// largest cost of a request: the body is decoded by the JSON v2
// implementation (github.com/go-json-experiment/json, about five times
// faster here), whose defaults already refuse invalid UTF-8, lone
// surrogates and duplicate names anywhere in the body, payload included;
// hasHugeNumber adds the one check of checkStrictJSON it lacks. A body the
// fast path refuses is decoded again by decodeBody, which gives the usual
// error, or the value for the few inputs v2 refuses and encoding/json
// takes. FuzzDecodeMessage checks that decodeMessage accepts what
// encoding/json and a strict parser both accept, and decodes it the same
// way.
func decodeMessage(c *fasthttp.RequestCtx, in *messageIn) error {
	body := c.PostBody()
	if err := jsonv2.Unmarshal(body, in, fastDecode); err == nil && !hasHugeNumber(body) {
		if in.Destination != nil {
			// Herald's own object: its unknown fields are refused.
			return checkFields(body, reflect.TypeOf(in), []string{"body"})
		}
		return nil
	}
	*in = messageIn{}
	return decodeBody(c, in)
}

// checkStrictJSON refuses JSON that encoding/json accepts but that other
// parsers read differently or not at all, so what Herald stores (a
// payload is kept byte for byte and sent as is) means one thing to every
// receiver: invalid UTF-8 and lone UTF-16 surrogates (encoding/json
// silently replaces them with U+FFFD, many receivers reject them),
// duplicate object keys (first wins in some parsers, last in others) and
// numbers beyond a float64 (JavaScript reads Infinity). It checks the
// whole body, payload included, without building values. A body that is
// not JSON at all passes: encoding/json then reports where it breaks.
func checkStrictJSON(body []byte) error {
	if jsontext.Value(body).IsValid() && !hasHugeNumber(body) {
		return nil // the common case, without locating anything
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for {
		var err error
		if dec.PeekKind() == '0' {
			var num jsontext.Value
			if num, err = dec.ReadValue(); err == nil {
				if _, perr := strconv.ParseFloat(string(num), 64); perr != nil {
					return jsonDecodeError(pointerLoc(dec.StackPointer()),
						"number "+truncate(string(num), 40)+" does not fit a 64-bit float")
				}
				continue
			}
		} else {
			_, err = dec.ReadToken()
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil && !json.Valid(body):
			// Broken JSON: encoding/json names the problem as before.
			return nil
		case err != nil:
			// encoding/json accepts the body, so what jsontext refuses is
			// invalid UTF-8, a lone surrogate or a duplicate key.
			var se *jsontext.SyntacticError
			if !errors.As(err, &se) {
				return jsonDecodeError([]string{"body"}, "not strict JSON: "+err.Error())
			}
			msg := "strings must not hold a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair)"
			switch {
			case errors.Is(err, jsontext.ErrDuplicateName):
				msg = "duplicate key: a key may appear only once in an object"
			case !utf8.Valid(body):
				msg = "strings must be valid UTF-8"
			}
			return jsonDecodeError(pointerLoc(se.JSONPointer), msg)
		}
	}
}

// hasHugeNumber reports whether body, which a strict parser accepted,
// holds a number that does not fit a float64. It skips strings with
// bytes.IndexByte and parses only numbers with an exponent or over 308
// digits, the only ones that can overflow: on the ingest path it costs a
// fraction of the decode.
func hasHugeNumber(body []byte) bool {
	for i := 0; i < len(body); {
		switch b := body[i]; {
		case b == '"':
			i++
			for {
				j := bytes.IndexByte(body[i:], '"')
				if j < 0 {
					return false
				}
				i += j
				escapes := 0
				for k := i - 1; body[k] == '\\'; k-- {
					escapes++
				}
				i++
				if escapes%2 == 0 {
					break
				}
			}
		case b == '-' || (b >= '0' && b <= '9'):
			j, exp := i, false
			for ; j < len(body); j++ {
				c := body[j]
				if c == 'e' || c == 'E' {
					exp = true
				} else if !(c >= '0' && c <= '9') && c != '-' && c != '+' && c != '.' {
					break
				}
			}
			if exp || j-i > 308 {
				if _, err := strconv.ParseFloat(string(body[i:j]), 64); err != nil {
					return true
				}
			}
			i = j
		default:
			i++
		}
	}
	return false
}

// pointerLoc turns a JSON pointer into a Svix error location.
func pointerLoc(p jsontext.Pointer) []string {
	loc := []string{"body"}
	for tok := range p.Tokens() {
		loc = append(loc, tok)
	}
	return loc
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// closedObject marks Herald's own request objects (not Svix's), whose
// unknown fields are refused: no SDK sends them, and a misspelt field that
// were ignored would silently leave a setting at its default.
//
// The leniencies kept, each because Svix's clients rely on it:
//   - Unknown fields on Svix's objects are ignored, as the Svix server
//     does: the Svix SDKs (Go and JavaScript v1.99.1) send a field Herald
//     does not implement (MessageIn.transformationsParams), and each SDK
//     release adds fields, which must not break every request of an older
//     Herald.
//   - The Content-Type is not checked: `curl -d` and some HTTP libraries
//     label JSON as a form or as text.
//   - Field names match case-insensitively, as in encoding/json (Herald has
//     always accepted "EventType"); two spellings of one field in a body
//     are refused as duplicate keys.
//   - null in an optional field means absent, as in Svix.
type closedObject interface{ closedObject() }

var (
	closedObjectType = reflect.TypeFor[closedObject]()
	unmarshalerType  = reflect.TypeFor[json.Unmarshaler]()
)

// checkFields refuses two keys of body that name one field of t
// ("eventType" and "eventtype": encoding/json keeps the last, Svix reads
// only the first, so the meaning depends on the parser) and, on Herald's
// own objects, a key that names no field. It descends into fields that are
// objects themselves. body is strict JSON and has been decoded into a t.
func checkFields(body []byte, t reflect.Type, loc []string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	ft := fieldsOf(t)
	w := walkers.Get().(*fieldWalker)
	defer walkers.Put(w)
	w.r.Reset(body)
	w.dec.Reset(&w.r)
	if tok, err := w.dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil // null: decoded as nothing
	}
	seen := make([]bool, len(ft.names))
	for w.dec.PeekKind() == '"' {
		raw, err := w.dec.ReadValue()
		if err != nil {
			return nil
		}
		if w.name, err = jsontext.AppendUnquote(w.name[:0], raw); err != nil {
			return nil
		}
		name := w.name
		value, err := w.dec.ReadValue()
		if err != nil {
			return nil
		}
		i := ft.index(name)
		switch {
		case i < 0 && ft.closed:
			return jsonDecodeError(append(slices.Clip(loc), string(name)), "unknown field: this Herald object has no field "+strconv.Quote(string(name)))
		case i < 0:
			continue
		case seen[i]:
			return jsonDecodeError(append(slices.Clip(loc), string(name)),
				"duplicate key: "+strconv.Quote(string(name))+" and an earlier key both name the field "+ft.names[i])
		}
		seen[i] = true
		if ft.objects[i] {
			if err := checkFields(value, t.Field(i).Type, append(slices.Clip(loc), string(name))); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldWalker reads one level of an object for checkFields; pooled, as a
// jsontext.Decoder is a few kilobytes.
type fieldWalker struct {
	r    bytes.Reader
	dec  jsontext.Decoder
	name []byte
}

var walkers = sync.Pool{New: func() any { return new(fieldWalker) }}

// fieldTable is how encoding/json finds the fields of a struct type by
// their JSON names.
type fieldTable struct {
	exact   map[string]int
	names   []string // by field index; "" for a field JSON never sets
	objects []bool   // by field index: the field is a struct checkFields enters
	closed  bool
}

var fieldTables sync.Map // reflect.Type -> *fieldTable

func fieldsOf(t reflect.Type) *fieldTable {
	if ft, ok := fieldTables.Load(t); ok {
		return ft.(*fieldTable)
	}
	ft := &fieldTable{exact: map[string]int{}, names: make([]string, t.NumField()), objects: make([]bool, t.NumField()),
		closed: reflect.PointerTo(t).Implements(closedObjectType)}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		ft.names[i] = name
		ft.exact[name] = i
		ft.objects[i] = f.Type.Kind() == reflect.Struct || (f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct)
	}
	fieldTables.Store(t, ft)
	return ft
}

// index returns the field a JSON name selects, as encoding/json matches
// names (exactly, else case-insensitively), or -1.
func (ft *fieldTable) index(name []byte) int {
	if i, ok := ft.exact[string(name)]; ok {
		return i
	}
	for i, n := range ft.names {
		if n != "" && strings.EqualFold(n, string(name)) {
			return i
		}
	}
	return -1
}

// intRanges are the bounds of integer fields whose Go type is wider than
// what they accept, keyed by field name, or by struct and field name
// where one name means different things. A value out of its type's range
// (throttleRate: -5) is then told the real bounds, not "expected a
// number, got JSON number -5".
var intRanges = map[string][2]int64{
	"rateLimit":                {1, 65535},
	"throttleRate":             {1, 65535},
	"version":                  {1, 65535},
	"gracePeriodSeconds":       {0, int64(maxGracePeriod / time.Second)},
	"appPortalAccessIn.expiry": {int64(minTokenTTL / time.Second), int64(maxTokenTTL / time.Second)},
	"expireAllIn.expiry":       {0, int64(maxTokenTTL / time.Second)},
}

// intRangeMessage words a JSON number that does not fit an integer field:
// negative, fractional or too large.
func intRangeMessage(typ *json.UnmarshalTypeError) (string, bool) {
	if !strings.HasPrefix(typ.Value, "number") {
		return "", false
	}
	var lo, hi string
	switch k := typ.Type.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		bits := typ.Type.Bits()
		lo, hi = strconv.FormatInt(-1<<(bits-1), 10), strconv.FormatInt(1<<(bits-1)-1, 10)
	case k >= reflect.Uint && k <= reflect.Uint64:
		lo, hi = "0", strconv.FormatUint(1<<typ.Type.Bits()-1, 10)
	default:
		return "", false
	}
	field := typ.Field
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	r, ok := intRanges[typ.Struct+"."+field]
	if !ok {
		r, ok = intRanges[field]
	}
	if ok {
		lo, hi = strconv.FormatInt(r[0], 10), strconv.FormatInt(r[1], 10)
	}
	return "must be a whole number between " + lo + " and " + hi, true
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
