package rbacauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rbacStub answers /authorize like rbac: `answer` decides, every call is counted and kept.
type rbacStub struct {
	server *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	last   http.Header
	answer func(w http.ResponseWriter, r *http.Request)
}

func newRbac(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *rbacStub {
	return newRbacWith(t, answer, nil)
}

func newRbacWith(t *testing.T, answer func(w http.ResponseWriter, r *http.Request), connState func(net.Conn, http.ConnState)) *rbacStub {
	stub := &rbacStub{answer: answer}
	stub.server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stub.calls.Add(1)
		stub.mu.Lock()
		stub.last = r.Header.Clone()
		stub.mu.Unlock()
		stub.answer(w, r)
	}))
	stub.server.Config.ConnState = connState
	stub.server.Start()
	t.Cleanup(stub.server.Close)
	return stub
}

func allowAs(user string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-User-Id", user)
		w.Header().Set("X-User-Name", "name of "+user)
		w.Header().Set("X-User-Admin", "false")
		w.Header().Set("X-Session-Id", "s-"+user)
		w.Header().Set("Content-Length", "0")
	}
}

func deny(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("WWW-Authenticate", "Bearer")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, `{"code":"token_revoked","status":401}`)
}

// service records what reached it.
type service struct {
	calls atomic.Int64
	mu    sync.Mutex
	seen  http.Header
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	s.seen = r.Header.Clone()
	s.mu.Unlock()
	_, _ = io.WriteString(w, "served")
}

func token(t *testing.T, exp time.Time) string {
	t.Helper()
	claims, err := json.Marshal(map[string]interface{}{"sub": "u1", "exp": exp.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return "Bearer " + enc([]byte(`{"alg":"RS256"}`)) + "." + enc(claims) + ".c2ln"
}

func middleware(t *testing.T, address string, cacheMs int) (http.Handler, *service) {
	t.Helper()
	config := CreateConfig()
	config.Address = address + "/authorize"
	config.CacheMilliseconds = cacheMs
	config.TimeoutMilliseconds = 2000
	next := &service{}
	handler, err := New(context.Background(), next, config, "test")
	if err != nil {
		t.Fatal(err)
	}
	return handler, next
}

func send(handler http.Handler, method, target string, header map[string][]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "192.0.2.7:4711"
	for name, values := range header {
		req.Header[name] = values
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

func TestAnAllowSetsTheIdentityFromTheAnswerAndReplacesTheClients(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	handler, next := middleware(t, rbac.server.URL, 250)

	rec := send(handler, "GET", "http://gw/storage/files?limit=5", map[string][]string{
		"Authorization": {token(t, time.Now().Add(time.Hour))},
		"X-User-Id":     {"someone-else"},
	})

	if rec.Code != 200 || next.calls.Load() != 1 {
		t.Fatalf("status %d, service calls %d", rec.Code, next.calls.Load())
	}
	if got := next.seen.Get("X-User-Id"); got != "u1" {
		t.Fatalf("X-User-Id %q", got)
	}
	if got := next.seen.Get("X-Session-Id"); got != "s-u1" {
		t.Fatalf("X-Session-Id %q", got)
	}
}

func TestTheDecisionRequestCarriesWhatForwardAuthSends(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	handler, _ := middleware(t, rbac.server.URL, 0)
	auth := token(t, time.Now().Add(time.Hour))

	send(handler, "DELETE", "http://gw.example/storage/files/f1?x=%2F", map[string][]string{
		"Authorization":      {auth},
		"User-Agent":         {"agent/1"},
		"X-Request-Id":       {"rid-1"},
		"Cookie":             {"session=secret"},
		"X-Forwarded-Uri":    {"/public/health"},
		"X-Forwarded-Method": {"GET"},
	})

	want := map[string]string{
		"Authorization":      auth,
		"User-Agent":         "agent/1",
		"X-Request-Id":       "rid-1",
		"X-Forwarded-Method": "DELETE",
		"X-Forwarded-Uri":    "/storage/files/f1?x=%2F",
		"X-Forwarded-Host":   "gw.example",
		"X-Forwarded-Proto":  "http",
		"X-Forwarded-For":    "192.0.2.7",
	}
	for name, value := range want {
		if got := rbac.last.Get(name); got != value {
			t.Errorf("%s: %q, want %q", name, got, value)
		}
	}
	if got := rbac.last.Get("Cookie"); got != "" {
		t.Errorf("Cookie forwarded: %q", got)
	}
}

func TestAnAllowIsRememberedAndExpires(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	handler, next := middleware(t, rbac.server.URL, 50)
	header := map[string][]string{"Authorization": {token(t, time.Now().Add(time.Hour))}}

	for i := 0; i < 5; i++ {
		if rec := send(handler, "GET", "http://gw/storage/files", header); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if rbac.calls.Load() != 1 || next.calls.Load() != 5 {
		t.Fatalf("rbac calls %d, service calls %d", rbac.calls.Load(), next.calls.Load())
	}
	if got := next.seen.Get("X-User-Id"); got != "u1" {
		t.Fatalf("a hit set X-User-Id %q", got)
	}

	// Another method, URI, host or token is another question.
	send(handler, "POST", "http://gw/storage/files", header)
	send(handler, "GET", "http://gw/storage/files?a=1", header)
	send(handler, "GET", "http://other/storage/files", header)
	send(handler, "GET", "http://gw/storage/files", map[string][]string{
		"Authorization": {token(t, time.Now().Add(2*time.Hour))},
	})
	if rbac.calls.Load() != 5 {
		t.Fatalf("rbac calls %d, want 5", rbac.calls.Load())
	}

	// Once the cache period has passed, rbac is asked again.
	deadline := time.Now().Add(10 * time.Second)
	for rbac.calls.Load() == 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		send(handler, "GET", "http://gw/storage/files", header)
	}
	if rbac.calls.Load() == 5 {
		t.Fatal("the remembered allow never expired")
	}
}

func TestTheExpiryGoroutineStopsOnceNothingIsRemembered(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	handler, _ := middleware(t, rbac.server.URL, 20)
	send(handler, "GET", "http://gw/storage/files", map[string][]string{
		"Authorization": {token(t, time.Now().Add(time.Hour))},
	})
	a := handler.(*Authorize)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.RLock()
		ticking := a.ticking
		a.mu.RUnlock()
		if !ticking {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the expiry goroutine still runs with nothing remembered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestADenialPassesThroughUnchangedAndIsNotRemembered(t *testing.T) {
	rbac := newRbac(t, deny)
	handler, next := middleware(t, rbac.server.URL, 250)
	header := map[string][]string{"Authorization": {token(t, time.Now().Add(time.Hour))}}

	for i := 0; i < 3; i++ {
		rec := send(handler, "GET", "http://gw/storage/files", header)
		if rec.Code != 401 {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Body.String() != `{"code":"token_revoked","status":401}` {
			t.Fatalf("body %q", rec.Body.String())
		}
		if rec.Header().Get("Content-Type") != "application/problem+json" ||
			rec.Header().Get("Www-Authenticate") != "Bearer" {
			t.Fatalf("headers %v", rec.Header())
		}
	}
	if rbac.calls.Load() != 3 || next.calls.Load() != 0 {
		t.Fatalf("rbac calls %d, service calls %d", rbac.calls.Load(), next.calls.Load())
	}
}

func TestAChangeToDenyIsSeenOnceTheAllowExpires(t *testing.T) {
	var denying atomic.Bool
	rbac := newRbac(t, func(w http.ResponseWriter, r *http.Request) {
		if denying.Load() {
			deny(w, r)
			return
		}
		allowAs("u1")(w, r)
	})
	handler, _ := middleware(t, rbac.server.URL, 50)
	header := map[string][]string{"Authorization": {token(t, time.Now().Add(time.Hour))}}
	if rec := send(handler, "GET", "http://gw/storage/files", header); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}

	denying.Store(true)

	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := send(handler, "GET", "http://gw/storage/files", header)
		if rec.Code == 401 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d", rec.Code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAnAllowIsNotRememberedPastTheTokensExpiry(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	handler, _ := middleware(t, rbac.server.URL, 60000)
	header := map[string][]string{"Authorization": {token(t, time.Now().Add(30*time.Second))}}

	send(handler, "GET", "http://gw/storage/files", header)
	send(handler, "GET", "http://gw/storage/files", header)

	if rbac.calls.Load() != 2 {
		t.Fatalf("rbac calls %d: an allow outlived its token", rbac.calls.Load())
	}
}

func TestAnythingButABearerJWTIsNotRemembered(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	handler, _ := middleware(t, rbac.server.URL, 60000)
	for _, auth := range []string{"Basic dTpw", "Bearer not-a-jwt", "Bearer a.!!!.c"} {
		before := rbac.calls.Load()
		send(handler, "GET", "http://gw/storage/files", map[string][]string{"Authorization": {auth}})
		send(handler, "GET", "http://gw/storage/files", map[string][]string{"Authorization": {auth}})
		if rbac.calls.Load()-before != 2 {
			t.Fatalf("%q was remembered", auth)
		}
	}
}

func TestTwoAuthorizationValuesNeverMatchARememberedAllow(t *testing.T) {
	rbac := newRbac(t, func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header["Authorization"]) > 1 {
			deny(w, r)
			return
		}
		allowAs("u1")(w, r)
	})
	handler, _ := middleware(t, rbac.server.URL, 60000)
	auth := token(t, time.Now().Add(time.Hour))
	if rec := send(handler, "GET", "http://gw/x", map[string][]string{"Authorization": {auth}}); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if rec := send(handler, "GET", "http://gw/x", nil); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}

	for i := 0; i < 2; i++ {
		rec := send(handler, "GET", "http://gw/x", map[string][]string{"Authorization": {auth, auth}})
		if rec.Code != 401 {
			t.Fatalf("two values: status %d", rec.Code)
		}
	}
}

func assertUnavailable(t *testing.T, rec *httptest.ResponseRecorder, next *service) {
	t.Helper()
	if rec.Code != 503 {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
	}
	var problem map[string]interface{}
	if err := json.Unmarshal(rec.Body.Bytes(), &problem); err != nil {
		t.Fatal(err)
	}
	want := map[string]interface{}{
		"type":     ProblemTypePrefix + "decision_unavailable",
		"title":    "Service Unavailable",
		"status":   float64(503),
		"code":     "decision_unavailable",
		"instance": "/storage/files",
	}
	for name, value := range want {
		if problem[name] != value {
			t.Errorf("%s: %v, want %v", name, problem[name], value)
		}
	}
	if _, ok := problem["detail"].(string); !ok {
		t.Errorf("no detail: %v", problem)
	}
	if next.calls.Load() != 0 {
		t.Fatal("the request was forwarded")
	}
}

func TestRbacUnreachableIsA503ProblemAndNothingIsForwarded(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	address := rbac.server.URL
	rbac.server.Close()
	handler, next := middleware(t, address, 250)

	rec := send(handler, "GET", "http://gw/storage/files", map[string][]string{
		"Authorization": {token(t, time.Now().Add(time.Hour))},
	})

	assertUnavailable(t, rec, next)
}

func TestAnAnswerThatIsNotADecisionIsA503(t *testing.T) {
	answers := map[string]func(w http.ResponseWriter, r *http.Request){
		"500": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
		"204": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
		"302": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere/", http.StatusFound)
		},
		"too large": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			_, _ = io.WriteString(w, strings.Repeat("x", 20000))
		},
		// Answers only once the middleware has given up (its 2 s timeout), so the stub's
		// Close does not wait out a fixed sleep past it.
		"too slow": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			rbac := newRbac(t, answer)
			handler, next := middleware(t, rbac.server.URL, 250)
			rec := send(handler, "GET", "http://gw/storage/files", nil)
			assertUnavailable(t, rec, next)
		})
	}
}

func TestRbacsOwn503PassesThrough(t *testing.T) {
	rbac := newRbac(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(503)
		_, _ = io.WriteString(w, `{"code":"revocation_unavailable"}`)
	})
	handler, next := middleware(t, rbac.server.URL, 250)

	rec := send(handler, "GET", "http://gw/storage/files", nil)

	if rec.Code != 503 || rec.Body.String() != `{"code":"revocation_unavailable"}` {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	if next.calls.Load() != 0 {
		t.Fatal("forwarded")
	}
}

func TestTheCacheIsBounded(t *testing.T) {
	rbac := newRbac(t, allowAs("u1"))
	config := CreateConfig()
	config.Address = rbac.server.URL + "/authorize"
	config.CacheMilliseconds = 60000
	config.CacheEntries = 10
	handler, err := New(context.Background(), &service{}, config, "test")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		send(handler, "GET", fmt.Sprintf("http://gw/x/%d", i), nil)
	}
	a := handler.(*Authorize)
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.cache) > 10 {
		t.Fatalf("%d entries", len(a.cache))
	}
}

func TestThePoolKeepsItsConnectionsUnderConcurrency(t *testing.T) {
	var connections atomic.Int64
	rbac := newRbacWith(t, allowAs("u1"), func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			connections.Add(1)
		}
	})
	handler, _ := middleware(t, rbac.server.URL, 0)
	var wg sync.WaitGroup
	for worker := 0; worker < 16; worker++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				send(handler, "GET", "http://gw/storage/files", nil)
			}
		}()
	}
	wg.Wait()
	if rbac.calls.Load() != 800 {
		t.Fatalf("rbac calls %d", rbac.calls.Load())
	}
	// forwardAuth's client keeps 2 idle connections per host and so opens new ones all along;
	// the plugin's pool keeps up to 64, so 16 concurrent callers need about 16.
	if connections.Load() > 32 {
		t.Fatalf("%d connections for 16 concurrent callers", connections.Load())
	}
}

func TestAnAllowMarkedNoStoreIsNeverRemembered(t *testing.T) {
	allow := allowAs("u1")
	rbac := newRbac(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		allow(w, r)
	})
	handler, next := middleware(t, rbac.server.URL, 60000)

	for i := 0; i < 3; i++ {
		if rec := send(handler, "GET", "http://gw/scheduler/events?ticket=t1", nil); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if rbac.calls.Load() != 3 || next.calls.Load() != 3 {
		t.Fatalf("rbac calls %d, service calls %d: a single-use allow was reused", rbac.calls.Load(), next.calls.Load())
	}
}

func TestABare503InFrontOfRbacIsTheDecisionUnavailable(t *testing.T) {
	rbac := newRbac(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "no available server")
	})
	handler, next := middleware(t, rbac.server.URL, 250)

	rec := send(handler, "GET", "http://gw/storage/files", nil)

	if rec.Code != 503 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(rec.Body.String(), "decision_unavailable") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("body %q, Retry-After %q", rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	if next.calls.Load() != 0 {
		t.Fatal("a request was forwarded")
	}
}
