package portal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"html/template"
	"net/http"
)

// pageBase is what every page template needs.
type pageBase struct {
	Title string
	// Nonce is this response's CSP nonce for its inline style and script.
	Nonce string
	// Referrer is the page's referrer policy, sent as the
	// Referrer-Policy header and in a meta element.
	Referrer string
	// extraCSP is appended to the page's Content-Security-Policy (the
	// sign-in pages' QR code image and WebAuthn fetches). It must only add
	// directives the base policy lacks: when a policy names a directive
	// twice, browsers obey the first and ignore the rest, so an appended
	// directive cannot change one of the base's.
	extraCSP string
	// formAction, when set, replaces 'self' as the source list of the
	// form-action directive: the only places the page's forms may post
	// to (the AWS console page posts to AWS and nowhere else).
	formAction string
}

// Referrer policies of the pages.
const (
	// referrerSameOrigin: the portal's pages hold nothing secret in their
	// URLs.
	referrerSameOrigin = "same-origin"
	// referrerNone: the device pages may carry a user code in their URL.
	referrerNone = "no-referrer"
)

// newPageBase returns a pageBase with a fresh nonce and the same-origin
// referrer policy.
func newPageBase(title string) pageBase {
	return pageBase{Title: title, Nonce: newNonce(), Referrer: referrerSameOrigin}
}

// newSecretURLPageBase returns a pageBase with a fresh nonce for a page
// whose URL may hold a secret: no referrer is ever sent from it.
func newSecretURLPageBase(title string) pageBase {
	return pageBase{Title: title, Nonce: newNonce(), Referrer: referrerNone}
}

// newNonce returns a fresh CSP nonce: 26 base32 characters, 130 random
// bits, none of which needs escaping in an attribute.
func newNonce() string { return rand.Text() }

// cspFor is the Content-Security-Policy of a page with the given nonce: no
// external resource of any kind, only the response's own inline style and
// script, forms posting only to formAction (a CSP source list).
func cspFor(nonce, formAction string) string {
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce +
		"'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// nonced is implemented by every page view.
type nonced interface {
	nonce() string
	referrer() string
	csp() string
}

func (b *pageBase) nonce() string    { return b.Nonce }
func (b *pageBase) referrer() string { return b.Referrer }
func (b *pageBase) csp() string {
	csp := cspFor(b.Nonce, firstNonEmpty(b.formAction, "'self'"))
	if b.extraCSP != "" {
		csp += "; " + b.extraCSP
	}
	return csp
}

// render executes t into a buffer and writes it with the page headers, so a
// template failure never sends half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, t *template.Template, data nonced) {
	var buf bytes.Buffer
	err := errEmptyNonce
	if data.nonce() != "" && data.referrer() != "" {
		err = t.Execute(&buf, data)
	}
	if err != nil {
		p.log.ErrorContext(r.Context(), "portal: rendering failed", "template", t.Name(), "err", err)
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", data.csp())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", data.referrer())
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// errEmptyNonce: a view was built without newPageBase (a programming
// error); the page is not sent.
var errEmptyNonce = errors.New("portal: page has no CSP nonce or referrer policy")

// messageView is a page with a heading, a paragraph and an optional link.
type messageView struct {
	pageBase
	Heading  string
	HeadID   string
	Message  string
	LinkText string
	LinkURL  string
}

func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	p.render(w, r, status, messagePage, &messageView{
		pageBase: newPageBase(heading + " – Gatehouse"), Heading: heading, Message: msg,
	})
}

func (p *Portal) renderUnavailable(w http.ResponseWriter, r *http.Request) {
	p.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
		"The portal is temporarily unavailable. Please try again in a moment.")
}

// styles is the one style sheet, inlined with the response's nonce.
const styles = `
:root{color-scheme:light;--fg:#1b1f24;--muted:#4b5563;--accent:#0b57d0;--line:#c9d1d9;--bar:#0d1b2a;--focus:#f59e0b}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:#fff}
[hidden]{display:none!important}
.skip{position:absolute;left:.5rem;top:-4rem;z-index:10;padding:.5rem 1rem;background:#fff;color:var(--accent);font-weight:600;border-radius:.375rem}
.skip:focus{top:.5rem}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
main:focus{outline:none}
.bar{display:flex;flex-wrap:wrap;gap:.75rem 1.5rem;align-items:center;justify-content:space-between;padding:.75rem 1.5rem;background:var(--bar);color:#fff}
.brand{font-weight:700;font-size:1.1rem;margin:0}
.who{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
.who form{margin:0}
main{display:block;max-width:64rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.75rem;margin:.25rem 0 1rem}
h2{font-size:1.25rem;margin:2rem 0 .75rem}
h3{font-size:1rem;margin:0 0 .5rem}
a{color:var(--accent)}
button,input{font:inherit}
button{padding:.4rem 1rem;border:1px solid #8c959f;border-radius:.375rem;background:#fff;color:var(--fg);cursor:pointer}
button:hover{background:#f3f4f6}
.search{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:0 0 .5rem}
.search label{font-weight:600;width:100%}
.search input{flex:1 1 16rem;max-width:28rem;padding:.45rem .65rem;border:1px solid #6b7280;border-radius:.375rem}
.status{color:var(--muted);margin:.25rem 0 1rem}
.tiles{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.75rem}
.tiles>li{border:1px solid var(--line);border-radius:.5rem;background:#f8fafc}
.tiles a.app,.tiles .app{display:block;padding:1rem 1.1rem;font-weight:600;text-decoration:none;border-radius:.5rem;overflow-wrap:anywhere}
.tiles a.app:hover{background:#eef4ff;text-decoration:underline}
.tiles .nolink{color:var(--muted);font-weight:400}
.account{padding:1rem 1.1rem}
.account .id{color:var(--muted);font-weight:400;font-size:.9rem}
.roles{list-style:none;margin:0;padding:0}
.roles li{display:flex;flex-wrap:wrap;gap:.25rem .75rem;padding:.25rem 0}
.empty{padding:1rem;border:1px dashed var(--line);border-radius:.5rem;color:var(--muted)}
dl.profile{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.profile dt{font-weight:600}
dl.profile dd{margin:0;overflow-wrap:anywhere}
.error{margin:0 0 1rem;padding:.75rem 1rem;border:2px solid #b42318;border-radius:.375rem;background:#fef3f2;color:#7a271a;font-weight:600}
.codeform{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:0 0 .5rem}
.codeform label{font-weight:600;width:100%}
.codeform input{width:12rem;padding:.45rem .65rem;border:1px solid #6b7280;border-radius:.375rem;font-family:ui-monospace,Menlo,Consolas,monospace;letter-spacing:.1em;text-transform:uppercase}
.codeform input[aria-invalid=true]{border:2px solid #b42318}
.hint{color:var(--muted);margin:0 0 1rem;width:100%}
.usercode{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1.5rem;font-weight:700;letter-spacing:.15em}
ul.scopes{margin:0;padding-left:1.25rem}
.decide{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.5rem 0 1rem}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff;font-weight:600}
button.primary:hover{background:#0842a0}
.narrow{max-width:32rem}
.stack{display:flex;flex-direction:column;gap:.5rem;align-items:flex-start;margin:0 0 1.5rem}
.stack label{font-weight:600}
.stack input{width:100%;max-width:24rem;padding:.45rem .65rem;border:1px solid #6b7280;border-radius:.375rem}
.block{margin:0 0 1.25rem}
.block h3{margin:0 0 .5rem}
.block button.copy{margin-top:.5rem}
pre.code{margin:0;padding:.75rem 1rem;border:1px solid var(--line);border-radius:.375rem;background:#f6f8fa;font:14px/1.45 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.vh{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
`

// filterScript filters the list as the user types. It reads the lowercased
// names from data-filter attributes and only toggles the hidden attribute;
// it never builds markup.
const filterScript = `
(function () {
  "use strict";
  var input = document.getElementById("q");
  if (!input) { return; }
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-filter]"));
  var status = document.getElementById("search-status");
  var none = document.getElementById("no-match");
  var total = items.length;
  function apply() {
    var q = input.value.trim().toLowerCase();
    var shown = 0;
    items.forEach(function (el) {
      var match = el.getAttribute("data-filter").indexOf(q) !== -1;
      el.hidden = !match;
      if (match) { shown++; }
    });
    if (none) { none.hidden = shown !== 0 || total === 0; }
    if (status) {
      status.textContent = q === "" ? "Showing " + total + (total === 1 ? " item." : " items.")
        : "Showing " + shown + " of " + total + ".";
    }
  }
  input.addEventListener("input", apply);
})();
`

const layout = `{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="{{.Referrer}}">
<title>{{.Title}}</title>
<style nonce="{{.Nonce}}">` + styles + `</style>
</head>{{end}}
{{define "bar"}}<a class="skip" href="#main">Skip to main content</a>
<header class="bar">
<p class="brand">Gatehouse</p>
<div class="who">
<span>Signed in as <strong id="user">{{.UserLabel}}</strong></span>
<form method="post" action="` + SignOutPath + `"><button type="submit" id="signout">Sign out</button></form>
</div>
</header>{{end}}`

var (
	portalPage  = template.Must(template.Must(template.New("portal").Parse(layout)).Parse(portalHTML))
	messagePage = template.Must(template.Must(template.New("message").Parse(layout)).Parse(messageHTML))
)

const portalHTML = `{{template "head" .}}
<body>
{{template "bar" .}}
<main id="main" tabindex="-1">
<h1>Access portal</h1>
{{- if .ShowSearch}}
<form class="search" role="search" method="get" action="{{.Path}}">
<label for="q">{{.SearchLabel}}</label>
<input type="search" id="q" name="q" value="{{.Query}}" maxlength="100" autocomplete="off" spellcheck="false" aria-describedby="search-status">
<button type="submit">Search</button>
{{- if .Query}} <a href="{{.Path}}">Show all</a>{{end}}
</form>
<p class="status" id="search-status" role="status">{{.Status}}</p>
<p class="empty" id="no-match"{{if not .NoMatch}} hidden{{end}}>Nothing matches your search.</p>
{{- end}}
<section aria-labelledby="apps-heading">
<h2 id="apps-heading">Applications</h2>
{{- if .AppsAssigned}}
<ul class="tiles" id="apps">
{{- range .Apps}}
<li data-filter="{{.Filter}}">{{if .URL}}<a class="app" href="{{.URL}}">{{.Name}}</a>{{else}}<span class="app nolink">{{.Name}} <small>(not available)</small></span>{{end}}</li>
{{- end}}
</ul>
{{- else}}
<p class="empty" id="apps-empty">No applications are assigned to you. If you expected one here, ask your administrator.</p>
{{- end}}
</section>
{{- if .ShowAccounts}}
<section aria-labelledby="accounts-heading">
<h2 id="accounts-heading">Accounts</h2>
{{- if .AccountsTotal}}
<ul class="tiles" id="accounts">
{{- range $a := .Accounts}}
<li class="account" data-filter="{{$a.Filter}}">
<h3>{{$a.Name}}{{if $a.ID}} <span class="id">{{$a.ID}}</span>{{end}}</h3>
{{- if $a.Roles}}
<ul class="roles">
{{- range $a.Roles}}
<li><span>{{.Name}}</span>
{{- if .ConsoleURL}} <a href="{{.ConsoleURL}}">Console<span class="vh"> for {{.Name}} in {{$a.Name}}</span></a>{{end}}
{{- if .CredentialsURL}} <a href="{{.CredentialsURL}}">Command line access<span class="vh"> for {{.Name}} in {{$a.Name}}</span></a>{{end}}</li>
{{- end}}
</ul>
{{- else}}
<p>No roles.</p>
{{- end}}
</li>
{{- end}}
</ul>
{{- else}}
<p class="empty" id="accounts-empty">No accounts are assigned to you.</p>
{{- end}}
</section>
{{- end}}
<section aria-labelledby="profile-heading">
<h2 id="profile-heading">Your profile</h2>
<dl class="profile">
<dt>User name</dt><dd id="user_name">{{.UserName}}</dd>
<dt>E-mail</dt><dd id="email">{{.Email}}</dd>
<dt>Groups</dt><dd id="groups">{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{else}}none{{end}}</dd>
<dt>Session ends</dt><dd id="expires"><time datetime="{{.ExpiresISO}}">{{.ExpiresText}}</time> (in {{.Remaining}})</dd>
</dl>
{{- if .DevicesURL}}
<p><a id="add-device" href="{{.DevicesURL}}">Add a sign-in device</a> (an authenticator app or a security key)</p>
{{- end}}
</section>
</main>
{{- if .ShowSearch}}
<script nonce="{{.Nonce}}">` + filterScript + `</script>
{{- end}}
</body>
</html>
`

const messageHTML = `{{template "head" .}}
<body>
<main id="main">
<h1{{if .HeadID}} id="{{.HeadID}}"{{end}}>{{.Heading}}</h1>
<p>{{.Message}}</p>
{{- if .LinkURL}}
<p><a href="{{.LinkURL}}">{{.LinkText}}</a></p>
{{- end}}
</main>
</body>
</html>
`
