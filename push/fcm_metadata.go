package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// FCMMetadataURL is the metadata server of Google Cloud machines, which
// hands the machine's service account's access tokens to its programs.
const FCMMetadataURL = "http://metadata.google.internal"

// newMetadataFCM is an FCM channel whose access tokens come from the
// metadata server instead of a key file.
func newMetadataFCM(cfg FCMConfig) (*FCM, error) {
	if cfg.ProjectID == "" {
		return nil, parley.Errorf(parley.EINVALID, "fcm: without a credentials file the Firebase project id is required")
	}
	if cfg.MetadataURL == "" {
		cfg.MetadataURL = FCMMetadataURL
	}
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return &FCM{
		metadata: strings.TrimRight(cfg.MetadataURL, "/"),
		sendURL:  strings.TrimRight(cfg.BaseURL, "/") + "/v1/projects/" + url.PathEscape(cfg.ProjectID) + "/messages:send",
		ttl:      strconv.FormatInt(int64(cfg.TTL/time.Second), 10) + "s",
		client:   cfg.HTTPClient,
		clock:    cfg.Clock,
		fetching: make(chan struct{}, 1),
	}, nil
}

// metadataToken fetches the default service account's access token from
// the metadata server and caches it.
func (f *FCM) metadataToken(ctx context.Context, now time.Time) (string, error) {
	u := f.metadata + "/computeMetadata/v1/instance/service-accounts/default/token?scopes=" + url.QueryEscape(fcmScope)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("fcm: metadata token: %w", err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := f.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fcm: metadata token: %w", err)
	}
	answer := readAnswer(resp)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fcm: metadata token: %w", newStatusError(parley.PushFCM, resp, excerpt(answer), now))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(answer, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("fcm: metadata token: unexpected answer %q", excerpt(answer))
	}
	f.keep(tr.AccessToken, tr.ExpiresIn, now)
	return tr.AccessToken, nil
}
