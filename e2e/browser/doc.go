// Package browser holds rtgate's end-to-end tests in real headless Chromium:
// the demo page served by an in-process rtgate, a fake microphone, and a
// simulator answering with a real WebRTC peer. See docs/browser.md.
package browser
