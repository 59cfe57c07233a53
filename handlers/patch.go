package handlers

import (
	"net/http"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
)

// patcher parses a PatchOp body into the function the directory applies.
func (s *Server) patcher(rt *scim.ResourceType, id string, raw []byte) (directory.Patcher, error) {
	return nil, scim.Errorf(http.StatusNotImplemented, "", "PATCH is not available yet")
}
