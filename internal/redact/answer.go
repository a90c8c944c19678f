package redact

import (
	"bytes"
	"encoding/json"
	"strings"
)

// MaxAnswerSecrets caps how many distinct strings one answer adds to the
// redactor: a real answer carries two or three tokens, and a hostile one must
// not make every later scrub (and the replacer built for it) costly.
const MaxAnswerSecrets = 64

// AnswerSecrets returns the strings held by vals (the values of token keys,
// in the answer's order), at most MaxAnswerSecrets distinct ones: top-level
// strings first, so that padding nested under one key cannot push out the
// token of another, then strings nested in arrays and objects.
func AnswerSecrets(vals []json.RawMessage) []string {
	var out []string
	seen := make(map[string]struct{})
	add := func(s string) bool {
		for _, x := range [2]string{s, strings.TrimSpace(s)} {
			if len(out) >= MaxAnswerSecrets {
				return false
			}
			if _, ok := seen[x]; !ok && len(x) >= MinSecretLen {
				seen[x] = struct{}{}
				out = append(out, x)
			}
		}
		return true
	}
	var nested []json.RawMessage
	for _, v := range vals {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '"' {
			var s string
			if json.Unmarshal(v, &s) == nil && !add(s) {
				return out
			}
		} else if len(v) > 0 && (v[0] == '[' || v[0] == '{') {
			nested = append(nested, v)
		}
	}
	for _, v := range nested {
		if !jsonStrings(v, add) {
			break
		}
	}
	return out
}

// jsonStrings calls yield with every string inside raw JSON (keys of
// objects excluded), in order, until yield returns false; it reports
// whether it went through all of them. It reads raw once.
func jsonStrings(raw json.RawMessage, yield func(string) bool) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var inObject []bool // per open container: an object, whose next string may be a key
	expectKey := false
	for {
		t, err := dec.Token()
		if err != nil {
			return true // io.EOF, or malformed: what was read was yielded
		}
		switch t := t.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				inObject = append(inObject, t == '{')
				expectKey = t == '{'
			case '}', ']':
				inObject = inObject[:len(inObject)-1]
				expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
			}
			continue
		case string:
			if expectKey {
				expectKey = false
				continue
			}
			if !yield(t) {
				return false
			}
		}
		// A value was read: inside an object, a key comes next.
		expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}

// SecretKey reports whether a response key may hold a token: one of the
// fixed names below, in any case (ACCESS_TOKEN, Refresh_Token). Only these
// keys are read for secrets, so that padding under other keys costs nothing.
func SecretKey(k string) bool {
	if len(k) > len("refresh_token") {
		return false
	}
	switch strings.ToLower(k) {
	case "access_token", "refresh_token", "id_token", "token", "code", "device_code", "user_code", "client_secret":
		return true
	}
	return false
}
