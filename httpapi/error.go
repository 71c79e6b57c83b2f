package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/parleyhq/parley"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[string]int{
	parley.EINVALID:      http.StatusBadRequest,
	parley.EUNAUTHORIZED: http.StatusUnauthorized,
	parley.EFORBIDDEN:    http.StatusForbidden,
	parley.ENOTFOUND:     http.StatusNotFound,
	parley.ECONFLICT:     http.StatusConflict,
	parley.ETOOMANY:      http.StatusTooManyRequests,
	parley.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	parley.EUNAVAILABLE:  http.StatusServiceUnavailable,
	parley.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status for an error code.
func ErrorStatus(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers with the error's code and client-safe message. Only
// internal errors are logged with their details.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := parley.ErrorCode(err), parley.ErrorMessage(err)
	if code == parley.EINTERNAL {
		h.logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == parley.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	}
	if code == parley.EUNAVAILABLE || code == parley.ETOOMANY {
		secs := int64(1)
		if ra := parley.RetryAfterOf(err); ra > time.Second {
			secs = int64((ra + time.Second - 1) / time.Second)
		}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	writeJSON(w, ErrorStatus(code), body)
}
