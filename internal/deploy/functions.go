package deploy

import (
	"slices"
	"strings"
)

// BinaryName is the name of the custom handler executable in the package;
// host.json's customHandler.description.defaultExecutablePath names it.
const BinaryName = "adfscim"

// Trigger is the kind of trigger an Azure Function has.
type Trigger string

const (
	// HTTP functions forward a request to the binary unchanged
	// (enableForwardingHttpRequest).
	HTTP Trigger = "httpTrigger"
	// Timer functions arrive as POST /<FunctionName> with the invocation
	// payload of the custom handler protocol.
	Timer Trigger = "timerTrigger"
)

// Function is one Azure Function of the app, as its functions/<Name>/
// function.json declares it. The handlers are checked against this list, and
// the function.json files are checked against it too, so the three agree.
type Function struct {
	// Name is the folder under functions/ and the function's name.
	Name string
	// Trigger is HTTP or Timer.
	Trigger Trigger
	// Binding is the trigger binding's name ("req" for HTTP, "timer" for the
	// timer); a timer invocation carries its data under Data.<Binding>.
	Binding string
	// Route is the HTTP route template relative to the (empty) route prefix,
	// ending in the catch-all "{*path}". Empty for timers.
	Route string
	// Methods are the lower-case HTTP methods the host forwards. Empty for
	// timers.
	Methods []string
	// Schedule is the NCRONTAB schedule (with seconds) of a timer.
	Schedule string
}

// Functions returns the app's functions in a stable order (a fresh slice on
// each call).
func Functions() []Function {
	return []Function{
		{
			Name:    "ScimApi",
			Trigger: HTTP,
			Binding: "req",
			Route:   "scim/v2/{*path}",
			Methods: []string{"get", "post", "put", "patch", "delete"},
		},
		{
			Name:    "OpsApi",
			Trigger: HTTP,
			Binding: "req",
			Route:   "ops/v1/{*path}",
			Methods: []string{"get", "post"},
		},
		{
			Name:     "ReconcileRbac",
			Trigger:  Timer,
			Binding:  "timer",
			Schedule: "0 */5 * * * *",
		},
	}
}

// Prefix is the URL path prefix an HTTP function serves: "/" followed by
// its route up to the catch-all, without the trailing slash
// ("/scim/v2" for "scim/v2/{*path}"). Empty for timers.
func (f Function) Prefix() string {
	if f.Trigger != HTTP {
		return ""
	}
	r := strings.TrimSuffix(f.Route, "{*path}")
	return "/" + strings.TrimSuffix(r, "/")
}

// InvocationPath is the path the host posts a timer invocation to
// ("/<Name>"). Empty for HTTP functions, whose requests keep their own path.
func (f Function) InvocationPath() string {
	if f.Trigger != Timer {
		return ""
	}
	return "/" + f.Name
}

// Forwards reports whether the host forwards an HTTP request with this
// method and URL path to the binary through f. A catch-all route also
// matches the prefix itself ("/scim/v2" as well as "/scim/v2/Users"), and,
// like the host's routing, the match ignores case.
func (f Function) Forwards(method, path string) bool {
	if f.Trigger != HTTP || !slices.Contains(f.Methods, strings.ToLower(method)) {
		return false
	}
	p := f.Prefix()
	return strings.EqualFold(path, p) ||
		(len(path) > len(p) && path[len(p)] == '/' && strings.EqualFold(path[:len(p)], p))
}

// ForwardingFunction returns the HTTP function through which the host
// forwards a request with this method and path, and false if no function
// does (the request never reaches the binary in Azure). Handlers use it to
// check that every route they serve is reachable.
func ForwardingFunction(method, path string) (Function, bool) {
	for _, f := range Functions() {
		if f.Forwards(method, path) {
			return f, true
		}
	}
	return Function{}, false
}
