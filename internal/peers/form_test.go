package peers

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Pages shaped like the peers' own: SimpleSAMLphp's login and POST pages
// and pysaml2's http_form_post page.
const (
	loginPage = `<!DOCTYPE html><html><head><title>Enter your username and password</title>
<script>if (a < b && c > d) { document.write('<form action="/evil"><input name="SAMLResponse" value="x">'); }</script>
<style>input[type=password] { color: red }</style></head><body>
<!-- <form action="/commented"><input type="password" name="pw"></form> -->
<form class="pure-form" action="?" method="post" name="f">
  <input id="username" placeholder="Username" type="text" name="username" value="" autofocus>
  <input id="remember_username" type="checkbox" name="remember_username" value="Yes">
  <input id="password" type=password name=password>
  <input type="hidden" name="AuthState" value="_abc:http://127.0.0.1/saml2/idp/SSOService.php?spentityid=sp&amp;RelayState=r&amp;cookieTime=1">
  <button class="btn" id="submit_button" type="submit">Login</button>
</form></body></html>`
	postPage = `<!DOCTYPE html><html><head><meta charset="utf-8"><script src="/js/post.js"></script></head><body>
<form method="post" action="http://127.0.0.1:9/region2/saml/acs">
  <input type="submit" id="postLoginSubmitButton">
  <input type="hidden" name="SAMLResponse" value="PHNhbWxwOlJlc3BvbnNlLz4=">
  <input type="hidden" name="RelayState" value="rs-&lt;1&gt;&amp;&#x27;&quot;">
  <noscript><button type="submit">Yes, continue</button></noscript>
</form></body></html>`
	pysaml2Page = `<!DOCTYPE html>
<html><head><meta charset="utf-8" /></head><body onload="document.forms[0].submit()">
<noscript><p><strong>Note:</strong> Since your browser does not support JavaScript, you must press the Continue button once to proceed.</p></noscript>
<form action="http://127.0.0.1:9/saml/acs" method="post"><input type="hidden" name="SAMLResponse" value="PD94bWw+"/><input type="hidden" name="RelayState" value="rs-1"/><noscript><input type="submit" value="Continue"/></noscript></form>
<script type="text/javascript">window.onload = function () { document.forms[0].submit(); }</script></body></html>`
)

func TestParseForms(t *testing.T) {
	tests := []struct {
		name string
		page string
		want []htmlForm
	}{
		{
			name: "login page",
			page: loginPage,
			want: []htmlForm{{Action: "?", Method: "post", Inputs: []htmlInput{
				{Type: "text", Name: "username"},
				{Type: "checkbox", Name: "remember_username", Value: "Yes"},
				{Type: "password", Name: "password"},
				{Type: "hidden", Name: "AuthState", Value: "_abc:http://127.0.0.1/saml2/idp/SSOService.php?spentityid=sp&RelayState=r&cookieTime=1"},
			}}},
		},
		{
			name: "post page",
			page: postPage,
			want: []htmlForm{{Action: "http://127.0.0.1:9/region2/saml/acs", Method: "post", Inputs: []htmlInput{
				{Type: "submit"},
				{Type: "hidden", Name: "SAMLResponse", Value: "PHNhbWxwOlJlc3BvbnNlLz4="},
				{Type: "hidden", Name: "RelayState", Value: `rs-<1>&'"`},
			}}},
		},
		{
			name: "pysaml2 page",
			page: pysaml2Page,
			want: []htmlForm{{Action: "http://127.0.0.1:9/saml/acs", Method: "post", Inputs: []htmlInput{
				{Type: "hidden", Name: "SAMLResponse", Value: "PD94bWw+"},
				{Type: "hidden", Name: "RelayState", Value: "rs-1"},
				{Type: "submit", Value: "Continue"},
			}}},
		},
		{
			name: "input outside a form is ignored",
			page: `<input name="SAMLResponse" value="x"><form action=/a><input name=b value=c></form><input name="d">`,
			want: []htmlForm{{Action: "/a", Inputs: []htmlInput{{Type: "text", Name: "b", Value: "c"}}}},
		},
		{
			name: "first duplicate attribute wins, upper case tags",
			page: `<FORM ACTION="/x" action="/y" METHOD=POST><INPUT TYPE=HIDDEN NAME=a VALUE=1 value=2 checked></FORM>`,
			want: []htmlForm{{Action: "/x", Method: "post", Inputs: []htmlInput{{Type: "hidden", Name: "a", Value: "1", Checked: true}}}},
		},
		{
			name: "a new form closes the open one",
			page: `<form action=/1><input name=a><form action=/2><input name=b>`,
			want: []htmlForm{
				{Action: "/1", Inputs: []htmlInput{{Type: "text", Name: "a"}}},
				{Action: "/2", Inputs: []htmlInput{{Type: "text", Name: "b"}}},
			},
		},
		{
			name: "unterminated tag stops the scan",
			page: `<form action=/1><input name=a><input name="b`,
			want: []htmlForm{{Action: "/1", Inputs: []htmlInput{{Type: "text", Name: "a"}}}},
		},
		{
			name: "script closing tag needs a delimiter",
			page: `<script>"</scripty><form action=/no>"</script ><form action=/yes>`,
			want: []htmlForm{{Action: "/yes"}},
		},
		{
			name: "no forms",
			page: `<html><body><p>Error: something went wrong</p></body></html>`,
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, parseForms([]byte(tc.page)))
		})
	}
}

func FuzzParseForms(f *testing.F) {
	for _, seed := range []string{loginPage, postPage, pysaml2Page, "", "<", "<form", "<!--", "<script>", `<a b='c`, "<form action=x><input name=y value=\xff\xfe>"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, page []byte) {
		forms := parseForms(page)
		inputs := 0
		for _, form := range forms {
			inputs += len(form.Inputs)
		}
		// Every form and input starts with its own '<'.
		if len(forms)+inputs > strings.Count(string(page), "<") {
			t.Fatalf("%d forms and %d inputs from %d tags", len(forms), inputs, strings.Count(string(page), "<"))
		}
		_ = snippet(page)
	})
}

func TestSnippet(t *testing.T) {
	page := "<html><head><title>Metadata   not\nfound</title><script>var x = '<b>hidden</b>';</script></head>" +
		"<body><h1>Unable to locate metadata for &#039;http://sp&#039;</h1>\x01</body></html>"
	assert.Equal(t, "Metadata not found Unable to locate metadata for 'http://sp' ?", snippet([]byte(page)))
	assert.LessOrEqual(t, len(snippet([]byte(strings.Repeat("a ", 5000)))), 2001)
}

// fakeIdP imitates the SimpleSAMLphp flow: the SSO endpoint sets a session
// cookie and redirects to a login page; the login form posts back to the same
// path ("?"), which either shows the form again or answers with the
// auto-submit form.
func fakeIdP(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sso", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("SAMLRequest") == "" {
			http.Error(w, "no SAMLRequest", http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sess", Value: "s1", Path: "/"})
		http.Redirect(w, r, "/login?AuthState="+url.QueryEscape(r.URL.Query().Get("RelayState")), http.StatusFound)
	})
	showLogin := func(w http.ResponseWriter, state string) {
		fmt.Fprintf(w, `<form action="?" method="post"><input name="username"><input type="password" name="password">`+
			`<input type="hidden" name="AuthState" value="%s"></form>`, html.EscapeString(state))
	}
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		showLogin(w, r.URL.Query().Get("AuthState"))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sess"); err != nil || c.Value != "s1" {
			http.Error(w, "no session cookie", http.StatusForbidden)
			return
		}
		if r.PostFormValue("username") != "alice" || r.PostFormValue("password") != "pw & <x>" {
			showLogin(w, r.PostFormValue("AuthState"))
			return
		}
		fmt.Fprintf(w, `<form method="post" action="/acs"><input type="hidden" name="SAMLResponse" value="UkVTUA=="><input type="hidden" name="RelayState" value="%s"></form>`,
			html.EscapeString(r.PostFormValue("AuthState")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowserLogin(t *testing.T) {
	srv := fakeIdP(t)
	ssoURL := srv.URL + "/sso?SAMLRequest=abc&RelayState=rs%26%3C1%3E"

	t.Run("success", func(t *testing.T) {
		form, err := browserLogin(context.Background(), newBrowser(t), ssoURL, "alice", "pw & <x>")
		require.NoError(t, err)
		assert.Equal(t, PostForm{Action: srv.URL + "/acs", SAMLResponse: "UkVTUA==", RelayState: "rs&<1>"}, form)
		assert.Equal(t, []string{"UkVTUA=="}, form.Values()["SAMLResponse"])
		assert.Equal(t, "rs&<1>", form.Values().Get("RelayState"))
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := browserLogin(context.Background(), newBrowser(t), ssoURL, "alice", "pw & <y>")
		require.ErrorIs(t, err, ErrLoginRejected)
	})
	t.Run("no cookie jar", func(t *testing.T) {
		_, err := browserLogin(context.Background(), &http.Client{}, ssoURL, "alice", "pw & <x>")
		require.ErrorIs(t, err, ErrUnexpectedPage)
		assert.Contains(t, err.Error(), "HTTP 403")
		assert.Contains(t, err.Error(), "no session cookie")
	})
	t.Run("error page", func(t *testing.T) {
		_, err := browserLogin(context.Background(), newBrowser(t), srv.URL+"/sso", "alice", "pw & <x>")
		require.ErrorIs(t, err, ErrUnexpectedPage)
		assert.Contains(t, err.Error(), "no SAMLRequest")
	})
	t.Run("nil client", func(t *testing.T) {
		_, err := browserLogin(context.Background(), nil, ssoURL, "alice", "pw & <x>")
		require.Error(t, err)
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := browserLogin(ctx, newBrowser(t), ssoURL, "alice", "pw & <x>")
		require.ErrorIs(t, err, context.Canceled)
	})
}
