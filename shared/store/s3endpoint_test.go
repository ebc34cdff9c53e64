package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// countingResolver is the SDK's resolver, counted.
type countingResolver struct {
	calls atomic.Int64
	sdk   s3.EndpointResolverV2
}

func (c *countingResolver) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	c.calls.Add(1)
	return c.sdk.ResolveEndpoint(ctx, p)
}

func endpointParams(bucket, region, endpoint string, pathStyle bool) s3.EndpointParameters {
	p := s3.EndpointParameters{Region: aws.String(region), Endpoint: aws.String(endpoint), ForcePathStyle: aws.Bool(pathStyle),
		UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), Accelerate: aws.Bool(false)}
	if bucket != "" {
		p.Bucket = aws.String(bucket)
	}
	return p
}

// describe is what a request takes from an endpoint: its URL, headers and
// each auth option's scheme, signing name and region.
func describe(t *testing.T, e smithyendpoints.Endpoint) string {
	t.Helper()
	s := e.URI.String()
	for k, v := range e.Headers {
		s += " " + k + "=" + v[0]
	}
	opts, _ := smithyauth.GetAuthOptions(&e.Properties)
	for _, o := range opts {
		name, _ := smithyhttp.GetSigV4SigningName(&o.SignerProperties)
		region, _ := smithyhttp.GetSigV4SigningRegion(&o.SignerProperties)
		s += " " + o.SchemeID + ":" + name + "@" + region
	}
	return s
}

// TestEndpointCacheMatchesTheSDK: the cache answers what the SDK answers,
// asks the SDK once per bucket whatever the object keys, and hands out
// copies that a request may change.
func TestEndpointCacheMatchesTheSDK(t *testing.T) {
	ctx := context.Background()
	sdk := s3.NewDefaultEndpointResolverV2()
	cases := []struct {
		name string
		p    s3.EndpointParameters
	}{
		{"B2 virtual-hosted", endpointParams("salon-backups", "us-west-004", "https://s3.us-west-004.backblazeb2.com", false)},
		{"B2 path-style", endpointParams("salon-backups", "us-west-004", "https://s3.us-west-004.backblazeb2.com", true)},
		{"loopback", endpointParams("salon-backups", "us-west-004", "http://127.0.0.1:9000", true)},
		{"AWS region", endpointParams("salon-backups", "eu-central-1", "https://s3.eu-central-1.amazonaws.com", false)},
		{"no bucket", endpointParams("", "us-west-004", "https://s3.us-west-004.backblazeb2.com", false)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := sdk.ResolveEndpoint(ctx, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if describe(t, want) == want.URI.String() {
				t.Fatalf("the SDK's endpoint carries no auth option: %s", describe(t, want))
			}
			next := &countingResolver{sdk: sdk}
			c := newEndpointCache(next)
			for i, key := range []string{"b/backups/x.dump", "b/metrics/2026-02-16.json", "", "other"} {
				p := tc.p
				if key != "" {
					p.Key, p.Prefix, p.CopySource = aws.String(key), aws.String(key), aws.String("salon-backups/"+key)
				}
				// The SDK's rules do not read Key, Prefix or CopySource,
				// which the cache leaves out of its key.
				sdkGot, err := sdk.ResolveEndpoint(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if describe(t, sdkGot) != describe(t, want) {
					t.Fatalf("the SDK resolves key %q to %s, and without it to %s: the cache must key on it", key, describe(t, sdkGot), describe(t, want))
				}
				got, err := c.ResolveEndpoint(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if describe(t, got) != describe(t, want) {
					t.Fatalf("request %d: cached %s, the SDK %s", i, describe(t, got), describe(t, want))
				}
				// A request's edits stay its own.
				opts, _ := smithyauth.GetAuthOptions(&got.Properties)
				for _, o := range opts {
					smithyhttp.SetSigV4SigningRegion(&o.SignerProperties, "edited")
				}
				got.URI.Path = "/edited"
			}
			if n := next.calls.Load(); n != 1 {
				t.Errorf("the SDK was asked %d times for one bucket, want 1", n)
			}
		})
	}
}

// TestEndpointCacheConcurrent: many requests at once resolve alike (run
// with -race to see the copies at work).
func TestEndpointCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	p := endpointParams("salon-backups", "us-west-004", "https://s3.us-west-004.backblazeb2.com", false)
	want, err := s3.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	c := newEndpointCache(s3.NewDefaultEndpointResolverV2())
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				got, err := c.ResolveEndpoint(ctx, p)
				if err != nil {
					t.Error(err)
					return
				}
				if describe(t, got) != describe(t, want) {
					t.Errorf("cached %s, the SDK %s", describe(t, got), describe(t, want))
					return
				}
				opts, _ := smithyauth.GetAuthOptions(&got.Properties)
				for _, o := range opts {
					o.SignerProperties.Set("edited", true)
				}
			}
		})
	}
	wg.Wait()
}
