package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes is the largest request body DecodeRequest accepts (8 KiB).
const MaxBodyBytes = 8 << 10

// Request is an access request as the caller sent it to POST /access, before
// validation by Policy.Validate. The requester is never part of it: it comes
// from the authenticated caller.
type Request struct {
	// Role is "ro", "rw" or the full name of a firefighter role.
	Role string `json:"role"`
	// IncidentID ties the grant to an incident or ticket, e.g. "INC-1234".
	IncidentID string `json:"incident_id"`
	// Hours is the validity asked for; 0 means the policy's default.
	Hours int `json:"hours"`
	// Reason is an optional free-text justification for the audit record.
	Reason string `json:"reason"`
}

// DecodeRequest decodes a request body strictly.
//
// The body must be one UTF-8 JSON object of at most MaxBodyBytes, holding only
// the members role, incident_id, hours and reason, each at most once, and
// nothing after it. A member of the wrong JSON type (null included) is
// reported with that field's code: hours must be an integer literal, so "2",
// 2.5 and 1e2 are invalid_hours. The error is always an *Error; its message
// names fields but never repeats the body.
func DecodeRequest(body []byte) (Request, error) {
	return decodeRequest(body, []string{"role", "incident_id", "hours", "reason"})
}

// DecodeExtendRequest decodes a POST /access/{role}/extend body strictly, as
// DecodeRequest does, with the members incident_id, hours and reason only (the role is
// in the path).
func DecodeExtendRequest(body []byte) (Request, error) {
	return decodeRequest(body, []string{"incident_id", "hours", "reason"})
}

// decodeRequest decodes body, an object whose members may only be fields.
func decodeRequest(body []byte, fields []string) (Request, error) {
	if len(body) > MaxBodyBytes {
		return Request{}, Errorf(CodeBodyTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return Request{}, Errorf(CodeInvalidRequest, "request body is empty")
	}
	if !utf8.Valid(body) {
		return Request{}, Errorf(CodeInvalidJSON, "request body is not valid utf-8")
	}
	members, err := decodeObject(body, fields)
	if err != nil {
		return Request{}, err
	}
	var r Request
	if raw, ok := members["role"]; ok {
		if r.Role, ok = jsonString(raw); !ok {
			return Request{}, Errorf(CodeInvalidRole, "role must be a string")
		}
	}
	if raw, ok := members["incident_id"]; ok {
		if r.IncidentID, ok = jsonString(raw); !ok {
			return Request{}, Errorf(CodeInvalidIncident, "incident_id must be a string")
		}
	}
	if raw, ok := members["hours"]; ok {
		if r.Hours, ok = jsonInt(raw); !ok {
			return Request{}, Errorf(CodeInvalidHours, "hours must be an integer")
		}
	}
	if raw, ok := members["reason"]; ok {
		if r.Reason, ok = jsonString(raw); !ok {
			return Request{}, Errorf(CodeInvalidReason, "reason must be a string")
		}
	}
	return r, nil
}

// decodeObject splits body, a single JSON object, into its raw members,
// refusing unknown and repeated names and anything after the object.
func decodeObject(body []byte, fields []string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	if tok != json.Delim('{') {
		return nil, Errorf(CodeInvalidRequest, "request body must be a json object")
	}
	members := make(map[string]json.RawMessage, 4)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		name, _ := tok.(string)
		if !slices.Contains(fields, name) {
			return nil, Errorf(CodeInvalidRequest, "request body has an unknown field; allowed fields are %s and %s",
				strings.Join(fields[:len(fields)-1], ", "), fields[len(fields)-1])
		}
		if _, dup := members[name]; dup {
			return nil, Errorf(CodeInvalidRequest, "field %s appears more than once", name)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(err)
		}
		members[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(CodeInvalidRequest, "request body has data after the json object")
	}
	return members, nil
}

// syntaxError reports a decoding failure without the decoder's text, which
// may quote the body.
func syntaxError(err error) *Error {
	e := Errorf(CodeInvalidJSON, "request body is not valid json")
	var se *json.SyntaxError
	if errors.As(err, &se) {
		e.Message = "request body is not valid json (error at byte " + strconv.FormatInt(se.Offset, 10) + ")"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		e.Message = "request body is not valid json (unexpected end)"
	}
	e.Err = err
	return e
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonInt decodes raw if it is a JSON integer literal (no fraction, no
// exponent) that fits in an int.
func jsonInt(raw json.RawMessage) (int, bool) {
	s := string(raw)
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}
