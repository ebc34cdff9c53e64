// Package httpsend is the one HTTP round trip the HTTP alert channels
// share: it sends a request, reads a bounded answer and sorts failures into
// worth retrying or not, without ever quoting the URL (a hook's path or a
// bot's token is a secret).
package httpsend

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxBody bounds what is read of an answer.
const maxBody = 64 << 10

// Do sends req with client (http.DefaultClient when nil) and returns the
// answer's body. Any status but 2xx is an error; retry is true for
// transport failures, 408, 429 and 5xx. what names the peer in errors.
func Do(client *http.Client, req *http.Request, what string) (body []byte, retry bool, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // drop the wrapper: it quotes the URL
		}
		return nil, true, fmt.Errorf("post alert: %w", err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return body, false, nil
	}
	retry = resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return body, retry, fmt.Errorf("post alert: %s answered %s", what, resp.Status)
}
