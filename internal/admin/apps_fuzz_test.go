package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

// offline is a transport that never reaches the network.
type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline")
}

var fieldMessage = regexp.MustCompile(`^[A-Za-z0-9_]+(\[\d+\])?(\.[A-Za-z0-9_<>]+(\[\d+\])?)*: `)

// FuzzCreateApplication posts arbitrary bodies to the create endpoint: the
// answer is 201 or a 4xx JSON error whose message starts with a field
// name, never a 5xx or a panic, and a rejected body changes nothing.
func FuzzCreateApplication(f *testing.F) {
	f.Add(mustJSON(f, validApp(f, "seed", "https://seed.example.com/sp")))
	f.Add(`{"id":"a","metadata_xml":"<x/>"}`)
	f.Add(`{"id":"a","metadata_url":"https://sp.example.com/md"}`)
	f.Add(`{"id":"a","metadata_xml":"<x/>","metadata_url":"https://sp.example.com/md"}`)
	f.Add(`{"id":"a","attributes":[{"name":"x","field":"phone"}]}`)
	f.Add(`{"id":"a","assignments":{"groups":[""]}}`)
	f.Add(`{"id":"a","colour":1}`)
	f.Add(`{"id":"a"}{}`)
	f.Add(`[]`)
	f.Add(`null`)
	f.Add(`{"Spec":{}}`)
	reg, err := apps.New(apps.Config{Store: memory.New(), HTTPClient: &http.Client{Transport: offline{}}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		f.Fatal(err)
	}
	if err := reg.Load(f.Context()); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	Routes(mux, NewToken(adminSecret), reg)
	f.Fuzz(func(t *testing.T, body string) {
		before := len(reg.List())
		r := httptest.NewRequest(http.MethodPost, applicationsPath, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+adminSecret)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusCreated:
			if len(reg.List()) != before+1 {
				t.Fatalf("201 without a new application")
			}
			return
		case w.Code >= 400 && w.Code < 500:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		var e server.ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("not a JSON error: %q", w.Body.String())
		}
		if e.Error == "invalid_request" && !fieldMessage.MatchString(e.Message) {
			t.Fatalf("message does not start with a field: %q", e.Message)
		}
		if len(reg.List()) != before {
			t.Fatalf("a rejected request changed the registry")
		}
	})
}
