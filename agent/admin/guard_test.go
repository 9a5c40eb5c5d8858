package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAdminGuard(t *testing.T) {
	const token = "s3cr3t-token"
	tests := []struct {
		name   string
		listen string
		token  string
		method string
		host   string
		header map[string]string
		want   int
	}{
		{"loopback GET by IP", "127.0.0.1:9180", "", "GET", "127.0.0.1:9180", nil, 200},
		{"GET by localhost", "127.0.0.1:9180", "", "GET", "LocalHost.:9180", nil, 200},
		{"GET by IPv6 literal", "[::1]:9180", "", "GET", "[::1]:9180", nil, 200},
		{"GET by another IP literal", "0.0.0.0:9180", token, "GET", "10.1.2.3:9180", map[string]string{"Authorization": "Bearer " + token}, 200},
		{"GET by the listen name", "backup-host.lan:9180", token, "GET", "Backup-Host.lan:9180", map[string]string{"Authorization": "Bearer " + token}, 200},
		{"DNS rebinding", "127.0.0.1:9180", "", "GET", "evil.example:9180", nil, 421},
		{"DNS rebinding without port", "127.0.0.1:9180", "", "GET", "evil.example", nil, 421},
		{"no Host", "127.0.0.1:9180", "", "GET", "", nil, 421},
		{"subdomain of localhost", "127.0.0.1:9180", "", "GET", "evil.localhost:9180", nil, 421},
		{"foreign Origin on GET", "127.0.0.1:9180", "", "GET", "127.0.0.1:9180", map[string]string{"Origin": "http://evil.example"}, 403},
		{"null Origin", "127.0.0.1:9180", "", "GET", "127.0.0.1:9180", map[string]string{"Origin": "null"}, 403},
		{"same Origin", "127.0.0.1:9180", "", "GET", "127.0.0.1:9180", map[string]string{"Origin": "http://127.0.0.1:9180"}, 200},
		{"cross-site form POST", "127.0.0.1:9180", "", "POST", "127.0.0.1:9180", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"POST without the header", "127.0.0.1:9180", "", "POST", "127.0.0.1:9180", map[string]string{"Content-Type": "text/plain"}, 403},
		{"POST with the header", "127.0.0.1:9180", "", "POST", "127.0.0.1:9180", map[string]string{RequestHeader: "1"}, 200},
		{"POST with the header and a foreign Origin", "127.0.0.1:9180", "", "POST", "127.0.0.1:9180", map[string]string{RequestHeader: "1", "Origin": "http://evil.example"}, 403},
		{"token missing", "0.0.0.0:9180", token, "GET", "10.1.2.3:9180", nil, 401},
		{"token wrong", "0.0.0.0:9180", token, "GET", "10.1.2.3:9180", map[string]string{"Authorization": "Bearer " + token + "x"}, 401},
		{"token as Basic", "0.0.0.0:9180", token, "GET", "10.1.2.3:9180", map[string]string{"Authorization": "Basic " + token}, 401},
		{"token on loopback too", "127.0.0.1:9180", token, "GET", "127.0.0.1:9180", nil, 401},
		{"token right, POST without header", "0.0.0.0:9180", token, "POST", "10.1.2.3:9180", map[string]string{"Authorization": "bearer " + token}, 403},
		{"token right, POST with header", "0.0.0.0:9180", token, "POST", "10.1.2.3:9180", map[string]string{"Authorization": "bearer " + token, RequestHeader: "1"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served := false
			h := newGuard(tt.listen, tt.token).wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served = true }))
			req := httptest.NewRequest(tt.method, "/sync", nil)
			req.Host = tt.host
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d (%q), want %d", rec.Code, rec.Body, tt.want)
			}
			if served != (tt.want == 200) {
				t.Fatalf("handler ran = %v with status %d", served, rec.Code)
			}
			if body := strings.TrimSpace(rec.Body.String()); tt.want != 200 && (body == "" || strings.Contains(body, "\n")) {
				t.Fatalf("refusal %q, want one line saying why", body)
			}
			if tt.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}
