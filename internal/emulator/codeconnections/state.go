package codeconnections

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

type state struct {
	Connections []*connection `json:"connections"`
	// Connector holds the connector app's private key: the state file is
	// as sensitive as the services it stands in for.
	Connector *connector `json:"connector,omitempty"`
}

// Snapshot returns the connections and the connector app, as JSON.
func (s *Server) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := state{Connector: s.connector}
	for _, c := range s.connections {
		cp := *c
		st.Connections = append(st.Connections, &cp)
	}
	slices.SortFunc(st.Connections, func(a, b *connection) int { return strings.Compare(a.Arn, b.Arn) })
	return json.Marshal(&st)
}

// Restore replaces the state with a Snapshot's.
func (s *Server) Restore(b []byte) error {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("codeconnections state: %w", err)
	}
	if st.Connector != nil {
		k, err := parseKey(st.Connector.KeyPEM)
		if err != nil {
			return fmt.Errorf("codeconnections state: %w", err)
		}
		st.Connector.key = k
	}
	conns := map[string]*connection{}
	for _, c := range st.Connections {
		conns[c.Arn] = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connections, s.connector, s.tokens = conns, st.Connector, map[int64]cachedToken{}
	return nil
}
