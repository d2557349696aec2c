package portal

import "html/template"

var (
	consolePage     = template.Must(template.Must(template.New("console").Parse(layout)).Parse(consoleHTML))
	credentialsPage = template.Must(template.Must(template.New("credentials").Parse(layout)).Parse(credentialsHTML))
)

// consoleHTML posts the SAML response to AWS: at once with the nonce'd
// script, or with the Continue button without JavaScript. It has no other
// form (the CSP lets forms post to AWS only, so no sign-out button).
const consoleHTML = `{{template "head" .}}
<body>
<main id="main" class="narrow">
<h1 id="console-heading">Opening the AWS console</h1>
<p>Signing you in to account <strong id="account">{{.AccountID}}</strong> as <strong id="role">{{.Role}}</strong>.</p>
<form id="aws-signin" method="post" action="{{.Action}}">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{- if .RelayState}}
<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{- end}}
<button type="submit" class="primary" id="continue">Continue</button>
</form>
<p><a href="` + PortalPath + `">Back to the portal</a></p>
</main>
<script nonce="{{.Nonce}}">document.getElementById("aws-signin").submit();</script>
</body>
</html>
`

// credentialsHTML shows the credentials three ways, each in a pre with a
// copy button that the script shows when the clipboard can be used.
const credentialsHTML = `{{template "head" .}}
<body>
{{template "bar" .}}
<main id="main" tabindex="-1">
<h1>Command line access</h1>
<p>Temporary credentials for account <strong id="account">{{.AccountID}}</strong> with role <strong id="role">{{.Role}}</strong>.
They expire at <time id="expires" datetime="{{.ExpiresISO}}">{{.ExpiresISO}}</time> (in <span id="expires-in">{{.ExpiresIn}}</span>). Keep them secret: anyone who has them can act as you in this account.</p>
<p class="status" id="copy-status" role="status" aria-live="polite"></p>
<section aria-labelledby="env-heading">
<h2 id="env-heading">Environment variables</h2>
<div class="block">
<h3 id="sh-heading">macOS and Linux (bash, zsh)</h3>
<pre class="code" id="env-sh">{{.Shell}}</pre>
<button type="button" class="copy" data-copy="env-sh" hidden>Copy<span class="vh"> the shell commands</span></button>
</div>
<div class="block">
<h3 id="ps-heading">Windows (PowerShell)</h3>
<pre class="code" id="env-ps">{{.PowerShell}}</pre>
<button type="button" class="copy" data-copy="env-ps" hidden>Copy<span class="vh"> the PowerShell commands</span></button>
</div>
</section>
<section aria-labelledby="file-heading">
<h2 id="file-heading">Credentials file</h2>
<div class="block">
<h3 id="file-sub">Add to ~/.aws/credentials, then use <code>--profile {{.Profile}}</code></h3>
<pre class="code" id="creds-file">{{.File}}</pre>
<button type="button" class="copy" data-copy="creds-file" hidden>Copy<span class="vh"> the credentials file profile</span></button>
</div>
</section>
<section aria-labelledby="process-heading">
<h2 id="process-heading">Credentials that renew themselves</h2>
<p>With the Gatehouse command line tool (after <code>gatehouse login</code>), <code id="command">{{.Command}}</code> prints fresh credentials whenever the AWS tools need them. Add this to ~/.aws/config:</p>
<div class="block">
<h3 id="config-sub">~/.aws/config</h3>
<pre class="code" id="process">{{.Process}}</pre>
<button type="button" class="copy" data-copy="process" hidden>Copy<span class="vh"> the configuration</span></button>
</div>
</section>
<p><a href="` + PortalPath + `">Back to the portal</a></p>
</main>
<script nonce="{{.Nonce}}">` + copyScript + `</script>
</body>
</html>
`

// copyScript shows the copy buttons when the clipboard can be written and
// copies the text of the pre a button names. It only sets textContent and
// the hidden attribute.
const copyScript = `
(function () {
  "use strict";
  var status = document.getElementById("copy-status");
  if (!navigator.clipboard || !navigator.clipboard.writeText) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("button.copy[data-copy]"), function (btn) {
    var target = document.getElementById(btn.getAttribute("data-copy"));
    if (!target) { return; }
    btn.hidden = false;
    btn.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent).then(function () {
        status.textContent = "Copied.";
      }, function () {
        status.textContent = "Copying did not work: select the text and copy it.";
      });
    });
  });
})();
`
