package ucoauthtest

// This file writes the answers: UltraCart's JSON shapes and error bodies.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/ultracart"
)

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func newSecret(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	if prefix == "" {
		return hex.EncodeToString(b)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeOAuthError answers like UltraCart's token endpoint: the RFC 6749 error
// fields of OauthTokenResponse, with the message in UC-REST-ERROR too.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set(ultracart.HeaderRESTError, desc)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// ErrorResponse writes UltraCart's ErrorResponse body, for injected failures
// and your own handlers.
func ErrorResponse(developerMessage, errorCode string) string {
	b, _ := json.Marshal(map[string]any{
		"error": map[string]string{
			"developer_message": developerMessage,
			"user_message":      developerMessage,
			"error_code":        errorCode,
			"more_info":         "",
			"object_id":         "",
		},
		"metadata": map[string]any{},
		"success":  false,
	})
	return string(b)
}

func writeUCError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set(ultracart.HeaderRESTError, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(ErrorResponse(msg, code)))
}
