package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

func Example() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	proxies, err := server.NewTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		panic(err)
	}
	reg := server.NewRegistry()
	metrics, err := server.NewHTTPMetrics(reg)
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	server.RegisterHealth(mux, nil, logger)
	mux.Handle("GET /metrics", server.MetricsHandler(reg))
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, proxies.ClientIP(r), proxies.ExternalURL(r))
	})
	handler := server.RequestID(proxies, logger)(server.AccessLog(logger)(metrics.Instrument(mux)))
	srv := server.NewHTTPServer("127.0.0.1:8080", handler)
	_ = srv // in main: server.Run(ctx, 25*time.Second, srv)

	// A request relayed by a trusted load balancer.
	r := httptest.NewRequest(http.MethodGet, "/whoami", nil)
	r.RemoteAddr = "10.0.0.2:40000"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	r.Header.Set("X-Forwarded-Host", "gw.example.com")
	r.Header.Set("X-Forwarded-Proto", "https")
	w := httptest.NewRecorder()
	srv.Handler.ServeHTTP(w, r)
	fmt.Print(w.Body.String())
	// Output:
	// 198.51.100.7 https://gw.example.com
}
