package admin

import "net/http"

// DeleteConfirmer is a Server that takes an operator's confirmation of the
// deletes its mass-deletion guards stopped (`s3ferry retention confirm`
// while the daemon holds the index). It is optional: SocketHandler serves
// POST /retention/confirm only for a Server that has it.
type DeleteConfirmer interface {
	// ConfirmDeletes lets the next pass of each stopped guard go on and
	// returns one line per guard: what it stopped, and whether it was
	// confirmed (a root that looks unmounted is not).
	ConfirmDeletes() ([]string, error)
}

// handleConfirm adds POST /retention/confirm to mux when s confirms
// deletes: it answers the lines of ConfirmDeletes as JSON.
func handleConfirm(mux *http.ServeMux, s Server) {
	c, ok := s.(DeleteConfirmer)
	if !ok {
		return
	}
	mux.HandleFunc("POST /retention/confirm", func(w http.ResponseWriter, r *http.Request) {
		lines, err := c.ConfirmDeletes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, lines)
	})
}
