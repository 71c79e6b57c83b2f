package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

// Credentials are what S3 requests are signed with.
type Credentials struct {
	AccessKey    string
	SecretKey    string
	SessionToken string // temporary credentials only
	// Expires is when temporary credentials stop working; zero for
	// static ones.
	Expires time.Time
}

// AWSChainConfig configures AWSCredentials. Zero fields take the standard
// values; tests point the endpoints at loopback servers.
type AWSChainConfig struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// ECSEndpoint is the ECS/Fargate container credentials host for
	// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (default http://169.254.170.2).
	ECSEndpoint string
	// IMDSEndpoint is the EC2 instance metadata service, asked with IMDSv2
	// session tokens (default AWS_EC2_METADATA_SERVICE_ENDPOINT, else
	// http://169.254.169.254). AWS_EC2_METADATA_DISABLED=true skips it.
	IMDSEndpoint string
	// HTTPClient asks the metadata endpoints; nil means one with a 5s
	// timeout.
	HTTPClient *http.Client
	// Now is the clock credentials are refreshed by; nil means time.Now.
	Now func() time.Time
}

// AWSCredentials returns the standard AWS credential chain, as the AWS
// SDKs resolve it for a service: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN from the environment; else the ECS task role
// (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI, with
// AWS_CONTAINER_AUTHORIZATION_TOKEN); else the EC2 instance role from the
// instance metadata service. Temporary credentials are cached and fetched
// again five minutes before they expire. The source is chosen on first
// use; an error there is returned to the request, which fails with
// EUNAVAILABLE.
func AWSCredentials(cfg AWSChainConfig) func(context.Context) (Credentials, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.ECSEndpoint == "" {
		cfg.ECSEndpoint = "http://169.254.170.2"
	}
	if cfg.IMDSEndpoint == "" {
		cfg.IMDSEndpoint = cfg.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
	}
	if cfg.IMDSEndpoint == "" {
		cfg.IMDSEndpoint = "http://169.254.169.254"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &credCache{cfg: cfg}
	return c.get
}

type credCache struct {
	cfg AWSChainConfig
	mu  sync.Mutex
	cur Credentials
	ok  bool
}

// refreshBefore is how long before expiry temporary credentials are
// replaced, so no request is signed with credentials about to lapse.
const refreshBefore = 5 * time.Minute

func (c *credCache) get(ctx context.Context) (Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && (c.cur.Expires.IsZero() || c.cfg.Now().Add(refreshBefore).Before(c.cur.Expires)) {
		return c.cur, nil
	}
	cr, err := c.fetch(ctx)
	if err != nil {
		if c.ok && c.cfg.Now().Before(c.cur.Expires) {
			return c.cur, nil // still valid: use them while the source is down
		}
		return Credentials{}, parley.WrapError(parley.EUNAVAILABLE, "no AWS credentials", err)
	}
	c.cur, c.ok = cr, true
	return cr, nil
}

func (c *credCache) fetch(ctx context.Context) (Credentials, error) {
	env := c.cfg.Getenv
	if id, secret := env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return Credentials{AccessKey: id, SecretKey: secret, SessionToken: env("AWS_SESSION_TOKEN")}, nil
	}
	if rel := env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		return c.container(ctx, strings.TrimSuffix(c.cfg.ECSEndpoint, "/")+rel)
	}
	if full := env("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full != "" {
		return c.container(ctx, full)
	}
	if strings.EqualFold(env("AWS_EC2_METADATA_DISABLED"), "true") {
		return Credentials{}, errors.New("no credentials in the environment, and the instance metadata service is disabled")
	}
	return c.instance(ctx)
}

// roleCredentials is the JSON both metadata services answer with.
type roleCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      time.Time
}

func (r *roleCredentials) credentials() (Credentials, error) {
	if r.AccessKeyID == "" || r.SecretAccessKey == "" {
		return Credentials{}, errors.New("credentials without AccessKeyId or SecretAccessKey")
	}
	return Credentials{AccessKey: r.AccessKeyID, SecretKey: r.SecretAccessKey, SessionToken: r.Token, Expires: r.Expiration}, nil
}

func (c *credCache) container(ctx context.Context, url string) (Credentials, error) {
	hdr := http.Header{}
	if tok := c.cfg.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"); tok != "" {
		hdr.Set("Authorization", tok)
	}
	var rc roleCredentials
	if err := c.getJSON(ctx, http.MethodGet, url, hdr, &rc); err != nil {
		return Credentials{}, fmt.Errorf("container credentials: %w", err)
	}
	return rc.credentials()
}

func (c *credCache) instance(ctx context.Context) (Credentials, error) {
	base := strings.TrimSuffix(c.cfg.IMDSEndpoint, "/")
	hdr := http.Header{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": {"21600"}}
	token, err := c.get1(ctx, http.MethodPut, base+"/latest/api/token", hdr)
	if err != nil {
		return Credentials{}, fmt.Errorf("instance metadata token: %w", err)
	}
	hdr = http.Header{"X-Aws-Ec2-Metadata-Token": {token}}
	role, err := c.get1(ctx, http.MethodGet, base+"/latest/meta-data/iam/security-credentials/", hdr)
	if err != nil {
		return Credentials{}, fmt.Errorf("instance role: %w", err)
	}
	role, _, _ = strings.Cut(strings.TrimSpace(role), "\n")
	if role == "" {
		return Credentials{}, errors.New("instance role: the instance has none")
	}
	var rc roleCredentials
	if err := c.getJSON(ctx, http.MethodGet, base+"/latest/meta-data/iam/security-credentials/"+role, hdr, &rc); err != nil {
		return Credentials{}, fmt.Errorf("instance role %s: %w", role, err)
	}
	return rc.credentials()
}

func (c *credCache) getJSON(ctx context.Context, method, url string, hdr http.Header, out any) error {
	body, err := c.get1(ctx, method, url, hdr)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(body), out)
}

func (c *credCache) get1(ctx context.Context, method, url string, hdr http.Header) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return string(b), nil
}
