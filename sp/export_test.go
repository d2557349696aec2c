package sp

// BrowserBindingForTest exposes the browser-binding hash to the external
// tests that seed pending requests directly.
var BrowserBindingForTest = bindingHash
