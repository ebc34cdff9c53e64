package freshness

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/instance"
)

// CheckInstances is the check that one agent writes a branch: the
// documents of the last instance.Window and the newest dump (when that
// recent) carry at most one agent instance id in their metadata.
const CheckInstances = "instances"

// InstanceCheck judges the instances check on b (without its
// future-dated objects): down when two or more instance ids wrote its
// recent documents or newest dump, since the second one first appeared
// (a document's generated_at, a dump's start); up otherwise. Documents
// and dumps without an id (older agents) do not count; ids that differ
// only in the host part are one instance (instance.Key).
func InstanceCheck(b *index.Branch, loc *time.Location, now time.Time) Check {
	c := Check{Name: CheckInstances, State: Up}
	from := index.DateString(now.In(loc).Add(-instance.Window))
	// By install id (instance.Key): the first time seen, and the newest
	// full id (a recreated container keeps its install id, not its host).
	first, newest, shown := map[string]time.Time{}, map[string]time.Time{}, map[string]string{}
	seen := func(id string, at time.Time) {
		if id == "" {
			return
		}
		k := instance.Key(id)
		if t, ok := first[k]; !ok || at.Before(t) {
			first[k] = at
		}
		if t, ok := newest[k]; !ok || !at.Before(t) {
			newest[k], shown[k] = at, id
		}
	}
	lo, hi := b.DocSpan(from, "")
	for i := lo; i < hi; i++ {
		seen(b.Docs.Instance(i))
	}
	if nb := b.LatestBackup(); nb != nil && now.Sub(nb.Taken(loc)) <= instance.Window {
		seen(nb.Instance, nb.Taken(loc))
	}
	keys := make([]string, 0, len(first))
	for k := range first {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return first[a].Compare(first[b]) })
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = shown[k]
	}
	switch len(ids) {
	case 0:
		c.Reason = "no agent instance id on the objects of the last 7 days (agents before instance ids)"
	case 1:
		c.Reason = "one agent instance (" + ids[0] + ") wrote the objects of the last 7 days"
	default:
		c.State, c.Since = Down, first[keys[1]]
		c.Reason = fmt.Sprintf("%d agent instances wrote this branch's objects in the last 7 days (%s): "+
			"two agents share its BRANCH_ID and overwrite each other's documents; give each branch its own BRANCH_ID, or stop the extra agent",
			len(ids), strings.Join(ids, ", "))
	}
	return c
}
