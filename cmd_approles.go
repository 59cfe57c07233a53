package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/rbac"
)

// approlesCommand runs `adfscim approles`: the appRoles of the Entra
// application, one per (factory, role) pair the mapping's grants section
// allows, as JSON to stdout. It reads only the mapping.
func approlesCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("approles", "approles [-mapping file|json] > approles.json",
		"Writes the appRoles of the Entra application that provisions adfscim: one app role per factory role the mapping's grants section allows to grant directly, with stable ids. Put them in the application's manifest (appRoles) and map AppRoleAssignmentsComplex([appRoleAssignments]) to roles (docs/entra-id.md).",
		config.RBACFlags, stderr)
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	src := cfg.Mapping
	if src == "" {
		src = cfg.MappingFile
	}
	m, err := rbac.MappingOptions{OperatorRoleID: cfg.OperatorRoleID}.Load(src)
	if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	if len(m.Grants) == 0 {
		return errors.New(`the mapping has no grants section: nothing may be granted directly (add "grants": [{"factories": [...], "roles": [...]}])`)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"appRoles": m.AppRoles()})
}
