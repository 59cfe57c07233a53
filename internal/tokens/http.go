package tokens

import (
	"context"
	"strings"
)

type clientKey struct{}

// WithClient returns a context carrying the authenticated client, for the
// auth middleware to hand to handlers.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client stored by WithClient.
func ClientFrom(ctx context.Context) (Client, bool) {
	c, ok := ctx.Value(clientKey{}).(Client)
	return c, ok
}

// BearerToken extracts the token of an Authorization header value of the
// form "Bearer <token>" (scheme case-insensitive, RFC 6750). It reports
// false for any other scheme or an empty token.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
