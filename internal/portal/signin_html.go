package portal

import "html/template"

var (
	signInPage   = template.Must(template.Must(template.New("signin").Parse(layout)).Parse(signInHTML))
	mfaPage      = template.Must(template.Must(template.New("mfa").Parse(layout)).Parse(mfaHTML))
	addPage      = template.Must(template.Must(template.New("add").Parse(layout)).Parse(addHTML))
	registerPage = template.Must(template.Must(template.New("register").Parse(layout)).Parse(registerHTML))
)

const signInHTML = `{{template "head" .}}
<body>
<main id="main" class="narrow">
<h1>Sign in</h1>
{{- if .Error}}
<p class="error" id="signin-error" role="alert">{{.Error}}</p>
{{- end}}
<form class="stack" method="post" action="` + SignInPath + `">
<input type="hidden" name="` + fieldReturnTo + `" value="{{.ReturnTo}}">
<label for="user_name">User name</label>
<input type="text" id="user_name" name="` + fieldUserName + `" value="{{.UserName}}" required maxlength="256" autocomplete="username" autocapitalize="none" spellcheck="false"{{if not .UserName}} autofocus{{end}}{{if .Error}} aria-describedby="signin-error"{{end}}>
<label for="password">Password</label>
<input type="password" id="password" name="` + fieldPassword + `" required maxlength="1024" autocomplete="current-password"{{if .UserName}} autofocus{{end}}>
<button type="submit" class="primary" id="signin">Sign in</button>
</form>
</main>
</body>
</html>
`

const addHTML = `{{template "head" .}}
<body>
<main id="main" class="narrow">
<h1>Add a sign-in device</h1>
<p>To add an authenticator app or a security key to <strong id="account">{{.Account}}</strong>, enter your password again.</p>
{{- if .Error}}
<p class="error" id="add-error" role="alert">{{.Error}}</p>
{{- end}}
<form class="stack" method="post" action="` + SignInAddPath + `">
<label for="password">Password</label>
<input type="password" id="password" name="` + fieldPassword + `" required maxlength="1024" autocomplete="current-password" autofocus>
<button type="submit" class="primary" id="add-continue">Continue</button>
</form>
<p><a href="` + PortalPath + `">Back to the portal</a></p>
</main>
</body>
</html>
`

const cancelForm = `<form method="post" action="` + signInCancelPath + `"><button type="submit" id="cancel">Cancel and start again</button></form>`

const mfaHTML = `{{template "head" .}}
<body>
<main id="main" class="narrow">
<h1>Verify it is you</h1>
<p>Signing in as <strong id="account">{{.Account}}</strong>. Use your second factor.</p>
{{- if .Error}}
<p class="error" id="mfa-error" role="alert">{{.Error}}</p>
{{- end}}
{{- if .TOTP}}
<section aria-labelledby="totp-heading">
<h2 id="totp-heading">Authenticator app</h2>
<form class="stack" method="post" action="` + SignInMFAPath + `/totp">
<label for="code">6-digit code from your app</label>
<input type="text" id="code" name="` + fieldCode + `" required inputmode="numeric" pattern="[0-9 ]{6,7}" maxlength="7" autocomplete="one-time-code" autofocus>
<button type="submit" class="primary" id="verify">Verify</button>
</form>
</section>
{{- end}}
{{- if .WebAuthn}}
<section aria-labelledby="key-heading">
<h2 id="key-heading">Security key or device</h2>
<button type="button" class="primary" id="webauthn" data-base="` + SignInMFAPath + `/webauthn" data-mode="get">Use your security key</button>
<p class="status" id="webauthn-status" role="status" aria-live="polite"></p>
</section>
<script nonce="{{.Nonce}}">` + webAuthnScript + `</script>
{{- end}}
` + cancelForm + `
</main>
</body>
</html>
`

const registerHTML = `{{template "head" .}}
<body>
<main id="main" class="narrow">
<h1>Set up a second factor</h1>
<p>Set up an authenticator app or a security key for <strong id="account">{{.Account}}</strong>; you will be signed in when it works.</p>
{{- if .Error}}
<p class="error" id="register-error" role="alert">{{.Error}}</p>
{{- end}}
<section aria-labelledby="app-heading">
<h2 id="app-heading">Authenticator app</h2>
<p>Scan this code with your authenticator app, or type in the key below.</p>
<img id="qr" src="{{.QRCode}}" width="200" height="200" alt="QR code for your authenticator app">
<p>Key: <code id="secret">{{.Secret}}</code></p>
<form class="stack" method="post" action="` + SignInRegisterPath + `/totp">
<label for="code">6-digit code from the app</label>
<input type="text" id="code" name="` + fieldCode + `" required inputmode="numeric" pattern="[0-9 ]{6,7}" maxlength="7" autocomplete="one-time-code">
<label for="totp-name">Name for this app (optional)</label>
<input type="text" id="totp-name" name="` + fieldName + `" maxlength="64" placeholder="Authenticator app">
<button type="submit" class="primary" id="register-totp">Verify and finish</button>
</form>
</section>
<section aria-labelledby="key-heading">
<h2 id="key-heading">Security key or this device</h2>
<label for="webauthn-name">Name for this key (optional)</label>
<input type="text" id="webauthn-name" maxlength="64" placeholder="Security key">
<button type="button" class="primary" id="webauthn" data-base="` + SignInRegisterPath + `/webauthn" data-mode="create">Register a security key</button>
<p class="status" id="webauthn-status" role="status" aria-live="polite"></p>
</section>
<script nonce="{{.Nonce}}">` + webAuthnScript + `</script>
` + cancelForm + `
</main>
</body>
</html>
`

// webAuthnScript runs a WebAuthn ceremony: it asks the gateway for the
// options, hands them to the browser, and posts the credential back. It
// sets only textContent and navigates only to the local path the gateway
// returns.
const webAuthnScript = `
(function () {
  "use strict";
  var btn = document.getElementById("webauthn");
  var status = document.getElementById("webauthn-status");
  if (!btn || !status) { return; }
  var base = btn.getAttribute("data-base");
  var mode = btn.getAttribute("data-mode");
  function post(path, body) {
    return fetch(base + path, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: body});
  }
  function reply(r) {
    return r.json().then(function (j) { return {ok: r.ok, body: j}; });
  }
  function fail(msg) {
    btn.disabled = false;
    status.textContent = msg || "That did not work. Try again, or use another method.";
  }
  btn.addEventListener("click", function () {
    var PKC = window.PublicKeyCredential;
    if (!PKC || !PKC.parseRequestOptionsFromJSON || !PKC.parseCreationOptionsFromJSON) {
      fail("This browser cannot use security keys here. Use another method or another browser.");
      return;
    }
    btn.disabled = true;
    status.textContent = "Follow the prompt from your browser.";
    post("/begin", "{}").then(reply).then(function (res) {
      if (!res.ok) { throw new Error(res.body.message); }
      if (mode === "create") {
        return navigator.credentials.create({publicKey: PKC.parseCreationOptionsFromJSON(res.body.publicKey)});
      }
      return navigator.credentials.get({publicKey: PKC.parseRequestOptionsFromJSON(res.body.publicKey)});
    }).then(function (cred) {
      var nameEl = document.getElementById("webauthn-name");
      return post("/finish", JSON.stringify({credential: cred.toJSON(), name: nameEl ? nameEl.value : ""}));
    }).then(reply).then(function (res) {
      if (res.ok && typeof res.body.redirect === "string" && res.body.redirect.charAt(0) === "/" &&
          res.body.redirect.charAt(1) !== "/" && res.body.redirect.charAt(1) !== "\\") {
        status.textContent = "Signed in.";
        window.location.assign(res.body.redirect);
        return;
      }
      if (res.body && res.body.redirect === "` + SignInPath + `") { window.location.assign("` + SignInPath + `"); return; }
      throw new Error(res.body && res.body.message);
    }).catch(function (e) {
      fail(e && e.name === "NotAllowedError" ? "The key was not used, or the request timed out. Try again." : (e && e.message));
    });
  });
})();
`
