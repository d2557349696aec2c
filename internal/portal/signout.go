package portal

import (
	"net/http"
)

// SignOutHandler serves the sign-out form's target (POST). It calls end,
// which ends the session and clears its cookie, and renders the signed-out
// page. When end fails, the page says so with 503, and any Set-Cookie or
// Clear-Site-Data header end added is dropped: the session was not ended,
// so the browser keeps its cookie and the user can try again rather than
// believe they are signed out.
//
// Only POST is accepted (405 otherwise), and cross-origin browser requests
// are refused with 403 before end is called, as
// net/http.CrossOriginProtection decides from Sec-Fetch-Site and Origin.
func (p *Portal) SignOutHandler(end func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	if end == nil {
		panic("portal: SignOutHandler needs an end function")
	}
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			p.renderError(w, r, http.StatusMethodNotAllowed, "Method not allowed",
				"Use the Sign out button in the portal to sign out.")
			return
		}
		if err := cop.Check(r); err != nil {
			p.log.WarnContext(r.Context(), "portal: cross-origin sign-out refused", "err", err)
			p.renderError(w, r, http.StatusForbidden, "Sign-out refused",
				"This sign-out request did not come from the portal.")
			return
		}
		if err := end(w, r); err != nil {
			p.log.ErrorContext(r.Context(), "portal: sign-out failed", "err", err)
			w.Header().Del("Set-Cookie")
			w.Header().Del("Clear-Site-Data")
			p.render(w, r, http.StatusServiceUnavailable, messagePage, &messageView{
				pageBase: newPageBase("Sign-out failed – Gatehouse"),
				Heading:  "Signing out is temporarily unavailable",
				Message:  "You are still signed in. Please try again in a moment.",
				LinkText: "Back to the portal", LinkURL: PortalPath,
			})
			return
		}
		p.render(w, r, http.StatusOK, messagePage, &messageView{
			pageBase: newPageBase("Signed out – Gatehouse"),
			Heading:  "You are signed out", HeadID: "signed-out",
			Message:  "Your Gatehouse session has ended. Applications you opened may keep their own sessions until you sign out of them or close the browser.",
			LinkText: "Sign in again", LinkURL: PortalPath,
		})
	})
}
