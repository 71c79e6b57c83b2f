package blob

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAWSCredentials(t *testing.T) {
	ctx := context.Background()
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	noMetadata := "http://127.0.0.1:1" // refuses connections

	t.Run("Environment", func(t *testing.T) {
		get := AWSCredentials(AWSChainConfig{Getenv: env(map[string]string{
			"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN",
		}), IMDSEndpoint: noMetadata})
		c, err := get(ctx)
		if err != nil || c.AccessKey != "AKID" || c.SecretKey != "SECRET" || c.SessionToken != "TOKEN" {
			t.Fatalf("credentials = %+v, %v", c, err)
		}
	})

	t.Run("ECSTaskRole", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v2/credentials/abc" || r.Header.Get("Authorization") != "task-token" {
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			w.Write([]byte(`{"AccessKeyId":"ECSKEY","SecretAccessKey":"ECSSECRET","Token":"ECSTOKEN","Expiration":"2100-01-01T00:00:00Z"}`))
		}))
		defer srv.Close()
		get := AWSCredentials(AWSChainConfig{Getenv: env(map[string]string{
			"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "task-token",
		}), ECSEndpoint: srv.URL, IMDSEndpoint: noMetadata})
		c, err := get(ctx)
		if err != nil || c.AccessKey != "ECSKEY" || c.SessionToken != "ECSTOKEN" || c.Expires.Year() != 2100 {
			t.Fatalf("credentials = %+v, %v", c, err)
		}
	})

	t.Run("EC2InstanceRoleRefreshed", func(t *testing.T) {
		now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
		fetches := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" && r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "":
				w.Write([]byte("imds-token"))
			case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-token":
				http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
			case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
				w.Write([]byte("parley-role\n"))
			case r.URL.Path == "/latest/meta-data/iam/security-credentials/parley-role":
				fetches++
				exp := now.Add(time.Hour).Format(time.RFC3339)
				w.Write([]byte(`{"Code":"Success","AccessKeyId":"EC2KEY` + strings.Repeat("I", fetches) + `","SecretAccessKey":"EC2SECRET","Token":"EC2TOKEN","Expiration":"` + exp + `"}`))
			default:
				http.NotFound(w, r)
			}
		}))
		defer srv.Close()
		clock := now
		get := AWSCredentials(AWSChainConfig{Getenv: env(map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": srv.URL}), Now: func() time.Time { return clock }})
		c, err := get(ctx)
		if err != nil || c.AccessKey != "EC2KEYI" || c.SessionToken != "EC2TOKEN" {
			t.Fatalf("credentials = %+v, %v", c, err)
		}
		clock = now.Add(50 * time.Minute)
		if c, _ := get(ctx); c.AccessKey != "EC2KEYI" || fetches != 1 {
			t.Errorf("cached credentials fetched again: %+v after %d fetches", c, fetches)
		}
		clock = now.Add(56 * time.Minute) // within five minutes of expiry
		if c, _ := get(ctx); c.AccessKey != "EC2KEYII" {
			t.Errorf("credentials about to expire not refreshed: %+v", c)
		}
	})

	t.Run("ErrNoSource", func(t *testing.T) {
		get := AWSCredentials(AWSChainConfig{Getenv: env(nil), IMDSEndpoint: noMetadata})
		if _, err := get(ctx); err == nil {
			t.Fatal("credentials without any source")
		}
		get = AWSCredentials(AWSChainConfig{Getenv: env(map[string]string{"AWS_EC2_METADATA_DISABLED": "true"})})
		if _, err := get(ctx); err == nil || !strings.Contains(err.Error(), "disabled") {
			t.Fatalf("metadata disabled: %v", err)
		}
	})
}
