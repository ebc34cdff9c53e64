package store

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// endpointCache remembers the SDK's own endpoint resolution for each set
// of endpoint parameters. The SDK's rules look the region up among AWS's;
// a region AWS does not have (Backblaze's us-west-004, every B2 region)
// makes it compile a partition's region regexp on every request
// (awsrulesfn.getPartition): 11% of the CPU of a cold sync of the
// aggregator, server included, went to compiling it. The endpoint itself
// is still the SDK's: the cache only stops asking again.
//
// The key holds every parameter the rules read. Key, Prefix and
// CopySource vary per request and are read by none of the rules of the
// SDK version in go.sum (TestEndpointCacheMatchesTheSDK checks that
// requests differing only in them resolve alike); they are left out of the
// key, so that a bucket's requests share one entry.
type endpointCache struct {
	next s3.EndpointResolverV2

	mu sync.RWMutex
	m  map[endpointKey]cachedEndpoint
}

// cachedEndpoint is an endpoint as the SDK resolved it, and its auth
// options copied: the SDK's auth resolver rewrites the options' property
// sets of the endpoint it is given, so each request gets its own copies
// (and the cached ones are only ever read).
type cachedEndpoint struct {
	e    smithyendpoints.Endpoint
	opts []*smithyauth.Option
	has  bool // e carried auth options
}

// maxEndpoints bounds the cache: a store talks to one bucket, so a handful
// of entries (that bucket, ListBuckets without one) is all it ever holds.
const maxEndpoints = 64

type endpointKey struct {
	bucket, region, endpoint string
	flags                    [11]int8 // each *bool parameter: -1 unset, 0 false, 1 true
}

func newEndpointCache(next s3.EndpointResolverV2) *endpointCache {
	return &endpointCache{next: next, m: map[endpointKey]cachedEndpoint{}}
}

func keyOf(p s3.EndpointParameters) endpointKey {
	str := func(s *string) string {
		if s == nil {
			return "\x00" // unset, unlike ""
		}
		return *s
	}
	flag := func(b *bool) int8 {
		switch {
		case b == nil:
			return -1
		case *b:
			return 1
		}
		return 0
	}
	return endpointKey{
		bucket: str(p.Bucket), region: str(p.Region), endpoint: str(p.Endpoint),
		flags: [11]int8{
			flag(p.UseFIPS), flag(p.UseDualStack), flag(p.ForcePathStyle), flag(p.Accelerate),
			flag(p.UseGlobalEndpoint), flag(p.UseObjectLambdaEndpoint), flag(p.DisableAccessPoints),
			flag(p.DisableMultiRegionAccessPoints), flag(p.UseArnRegion), flag(p.UseS3ExpressControlEndpoint),
			flag(p.DisableS3ExpressSessionAuth),
		},
	}
}

// ResolveEndpoint answers from the cache, or asks the SDK and keeps its
// answer. Errors are not kept. Each caller gets its own copy of the
// endpoint's URL, headers, properties and auth options.
func (c *endpointCache) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := keyOf(p)
	c.mu.RLock()
	ce, ok := c.m[k]
	c.mu.RUnlock()
	if !ok {
		e, err := c.next.ResolveEndpoint(ctx, p)
		if err != nil {
			return e, err
		}
		ce.e = e
		var opts []*smithyauth.Option
		if opts, ce.has = smithyauth.GetAuthOptions(&e.Properties); ce.has {
			ce.opts = cloneOptions(opts)
		}
		c.mu.Lock()
		if len(c.m) < maxEndpoints {
			c.m[k] = ce
		}
		c.mu.Unlock()
	}
	out := ce.e
	out.Headers = ce.e.Headers.Clone()
	var props smithy.Properties
	props.SetAll(&ce.e.Properties)
	if ce.has {
		smithyauth.SetAuthOptions(&props, cloneOptions(ce.opts))
	}
	out.Properties = props
	return out, nil
}

// cloneOptions copies auth options and their property sets.
func cloneOptions(opts []*smithyauth.Option) []*smithyauth.Option {
	out := make([]*smithyauth.Option, len(opts))
	for i, o := range opts {
		c := &smithyauth.Option{SchemeID: o.SchemeID}
		c.IdentityProperties.SetAll(&o.IdentityProperties)
		c.SignerProperties.SetAll(&o.SignerProperties)
		out[i] = c
	}
	return out
}

var _ s3.EndpointResolverV2 = (*endpointCache)(nil)
