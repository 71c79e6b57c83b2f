package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/parleyhq/parley"
)

// Search finds the messages matching req.Q that the caller may see, newest
// first: words (each also matching the words it starts) and "quoted
// phrases", all of which must match. req.ConversationID limits it to one
// conversation; req.BeforeID, the last result's message id, asks for the
// next page. A zero req.Limit means the server's default (20, at most 50).
func (c *Client) Search(ctx context.Context, req parley.SearchRequest) ([]parley.SearchResult, error) {
	v := url.Values{"q": {req.Q}}
	if req.ConversationID != 0 {
		v.Set("conversation_id", req.ConversationID.String())
	}
	if req.BeforeID != 0 {
		v.Set("before_id", req.BeforeID.String())
	}
	if req.Limit != 0 {
		v.Set("limit", strconv.Itoa(req.Limit))
	}
	var out struct {
		Results []parley.SearchResult `json:"results"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/search?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}
