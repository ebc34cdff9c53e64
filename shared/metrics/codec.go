package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Encode writes d as JSON: fields in spec order, two-space indent, a
// trailing newline, non-ASCII text unescaped. It does not validate d.
func (d Document) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("encode metrics document: %w", err)
	}
	return nil
}

// Marshal returns d as Encode writes it.
func (d Document) Marshal() ([]byte, error) {
	var b bytes.Buffer
	if err := d.Encode(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode reads one document from r, reading at most MaxDocumentBytes+1
// bytes; see Unmarshal for what it accepts.
func Decode(r io.Reader) (Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentBytes+1))
	if err != nil {
		return Document{}, fmt.Errorf("read metrics document: %w", err)
	}
	if len(data) > MaxDocumentBytes {
		return Document{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxDocumentBytes)
	}
	return Unmarshal(data)
}

// Unmarshal decodes a document strictly: data must be one JSON object whose
// field names match exactly (case included); every field of the schema must
// be present, non-null and of its JSON type (money and counts are numbers
// without a fraction or exponent). Unknown extra fields are ignored.
//
// Errors wrap ErrTooLarge, ErrUnsupportedVersion (schema_version missing or
// not CurrentMajor, checked before anything else) or ErrMalformed, and name
// every offending field. Unmarshal does not check invariants: call Validate.
func Unmarshal(data []byte) (Document, error) {
	if len(data) > MaxDocumentBytes {
		return Document{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxDocumentBytes)
	}
	obj, ok := splitObject(data)
	if !ok {
		if err := json.Unmarshal(data, &obj); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				return Document{}, fmt.Errorf("%w: not a JSON object", ErrMalformed)
			}
			return Document{}, fmt.Errorf("%w: malformed JSON: %v", ErrMalformed, err)
		}
	}
	if obj == nil { // the literal null
		return Document{}, fmt.Errorf("%w: not a JSON object (got null)", ErrMalformed)
	}

	var d Document
	raw, ok := obj["schema_version"]
	if !ok {
		return Document{}, fmt.Errorf("%w: schema_version is missing", ErrUnsupportedVersion)
	}
	if isNull(raw) || json.Unmarshal(raw, &d.SchemaVersion) != nil {
		return Document{}, fmt.Errorf("%w: schema_version is %s, want %d", ErrUnsupportedVersion, describe(raw), CurrentMajor)
	}
	if d.SchemaVersion != CurrentMajor {
		return Document{}, fmt.Errorf("%w: schema_version is %d, want %d", ErrUnsupportedVersion, d.SchemaVersion, CurrentMajor)
	}

	var errs []error
	for _, f := range d.fields()[1:] {
		if err := decodeField(obj, f); err != nil {
			errs = append(errs, err)
		}
	}
	if err := join(ErrMalformed, errs); err != nil {
		return Document{}, err
	}
	return d, nil
}

// decodeField decodes obj[f.name] into f.ptr.
func decodeField(obj map[string]json.RawMessage, f field) error {
	raw, ok := obj[f.name]
	if !ok {
		return fieldErr(f.name, "is missing")
	}
	var want string
	switch f.ptr.(type) {
	case *int, *int64:
		want = "an integer"
	case *string:
		want = "a string"
	case *bool:
		want = "true or false"
	}
	if isNull(raw) {
		return fieldErr(f.name, "is null, want %s", want)
	}
	if decodeFast(raw, f.ptr) {
		return nil
	}
	if err := json.Unmarshal(raw, f.ptr); err != nil {
		if want == "an integer" && isWholeNumber(raw) {
			return fieldErr(f.name, "is number %s, out of range for a 64-bit integer", excerpt(raw))
		}
		return fieldErr(f.name, "is %s, want %s", describe(raw), want)
	}
	return nil
}

// decodeFast decodes the usual value of a field without a json.Unmarshal
// of its own (a cold sync decodes millions of documents, each field a
// fresh scan and reflection otherwise): an integer literal into an int64,
// a string without escapes in valid UTF-8, true or false. raw is valid
// JSON (the object's own decoding checked it). It reports false for
// anything else, which json.Unmarshal then decodes or explains, so the
// result and every error are as json.Unmarshal's.
func decodeFast(raw json.RawMessage, ptr any) bool {
	switch p := ptr.(type) {
	case *int64:
		// What encoding/json does with a number literal for an int64.
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return false
		}
		*p = n
	case *string:
		if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
			return false
		}
		s := raw[1 : len(raw)-1]
		if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
			return false
		}
		*p = string(s)
	case *bool:
		switch string(raw) {
		case "true":
			*p = true
		case "false":
			*p = false
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// splitObject cuts a JSON object into its members, as json.Unmarshal into
// a map[string]json.RawMessage does (the last of duplicate names wins;
// each value is its bytes, without the whitespace around them), without
// the reflection and copies: a cold sync splits millions of documents. It
// checks data with json.Valid first and reports false for anything but a
// valid object whose names are plain ASCII without escapes, which
// json.Unmarshal then decodes or explains. The values share data's memory.
func splitObject(data []byte) (map[string]json.RawMessage, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' || !json.Valid(data) {
		return nil, false
	}
	obj := make(map[string]json.RawMessage, 24)
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return obj, true
	}
	for {
		// data is valid JSON: a member is a string, a colon and a value.
		j := i + 1
		for ; data[j] != '"'; j++ {
			if data[j] == '\\' || data[j] >= utf8.RuneSelf {
				return nil, false
			}
		}
		name := string(data[i+1 : j])
		i = skipSpace(data, skipSpace(data, j+1)+1) // past the colon
		end := skipValue(data, i)
		obj[name] = json.RawMessage(data[i:end:end])
		i = skipSpace(data, end)
		if data[i] == '}' {
			return obj, true
		}
		i = skipSpace(data, i+1) // past the comma
	}
}

// skipSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value at i.
func skipValue(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			for i++; data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 { // the end of the enclosing object: a literal ended here
				return i
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

func isNull(raw json.RawMessage) bool {
	return string(raw) == "null"
}

// describe names the JSON type of raw and shows a short excerpt of it.
func describe(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	case 't', 'f':
		return "a bool (" + string(raw) + ")"
	case '"':
		return "a string " + excerpt(raw)
	}
	return "number " + excerpt(raw)
}

// isWholeNumber reports whether raw is a JSON number without a fraction or
// exponent.
func isWholeNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') && !bytes.ContainsAny(raw, ".eE")
}

// excerpt returns raw, cut to a readable length on a rune boundary.
func excerpt(raw []byte) string {
	const max = 40
	if len(raw) <= max {
		return string(raw)
	}
	n := max
	for n > 0 && !utf8.RuneStart(raw[n]) {
		n--
	}
	return string(raw[:n]) + "…"
}
