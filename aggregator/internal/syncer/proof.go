package syncer

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
	"github.com/branchwatch/branchwatch/shared/store"
)

// proofKind says whether key is a drill record, a manifest or the agent
// status of branch ("" when none of them).
func proofKind(branch, key string) string {
	if k, err := layout.ParseKey(key, time.UTC); err == nil && (k.Kind == layout.ManifestKind || k.Kind == layout.DrillsDir) {
		return k.Kind
	}
	if dp, _ := layout.DrillsPrefix(branch); strings.HasPrefix(key, dp) {
		return layout.DrillsDir // a bad name, listed as a bad drill record
	}
	if sk, _ := layout.AgentStatusKey(branch); key == sk {
		return layout.AgentDir
	}
	return ""
}

// readProof builds the branch's drills, manifests and agent status from
// the listed objects: unchanged ones are reused, others downloaded and
// judged. What an incremental sync does not list (the manifests of older
// backups, the agent status) is kept. A failed download keeps the previous version.
func (s *Syncer) readProof(ctx context.Context, w *branchWork) {
	var prev *index.Proof
	if w.prev != nil {
		prev = w.prev.Proof
	}
	p := &index.Proof{}
	if !w.full && prev != nil {
		for _, m := range prev.Manifests {
			if m.Key <= w.backupsAfter {
				p.Manifests = append(p.Manifests, m)
			}
		}
		// The agent status is read by full syncs only (an incremental one
		// lists two sections per branch, and the status is judged in days).
		p.Agent = prev.Agent
		for _, b := range prev.Bad {
			switch proofKind(w.id, b.Key) {
			case layout.ManifestKind:
				if b.Key <= w.backupsAfter {
					p.Bad = append(p.Bad, b)
				}
			case layout.AgentDir:
				p.Bad = append(p.Bad, b)
			}
		}
	}
	reused := 0
	for _, o := range w.proofObjs {
		obj := index.Object{Key: o.Key, ETag: o.ETag, Size: o.Size}
		v, ok := prev.Reuse(obj)
		if ok {
			reused++
		} else {
			var err error
			v, err = s.readProofObject(ctx, w.id, o)
			if err != nil {
				if old, _, found := prev.Find(o.Key); found { // keep the previous version
					v = old
				}
				w.proofErrs = append(w.proofErrs, err)
			}
			w.downloaded++
		}
		switch x := v.(type) {
		case *index.Drill:
			p.Drills = append(p.Drills, *x)
		case *index.Manifest:
			p.Manifests = append(p.Manifests, *x)
		case *index.AgentStatus:
			p.Agent = x
		case *index.BadDoc:
			p.Bad = append(p.Bad, *x)
			if !ok {
				w.newBad++
				s.o.Logger.Warn("bad document", "branch", w.id, "key", x.Key, "reason", x.Reason)
			}
		}
	}
	byKey := func(a, b index.Object) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(p.Drills, func(a, b index.Drill) int { return byKey(a.Object, b.Object) })
	slices.SortFunc(p.Manifests, func(a, b index.Manifest) int { return byKey(a.Object, b.Object) })
	sortBad(p.Bad)
	switch {
	case len(p.Drills) == 0 && len(p.Manifests) == 0 && p.Agent == nil && len(p.Bad) == 0:
		w.proof = nil
	case prev != nil && reused == len(w.proofObjs) && sameProof(prev, p):
		w.proof = prev // unchanged: share it
	default:
		w.proof = p
	}
}

// sameProof reports whether p holds the same objects as prev.
func sameProof(prev, p *index.Proof) bool {
	if len(prev.Drills) != len(p.Drills) || len(prev.Manifests) != len(p.Manifests) || len(prev.Bad) != len(p.Bad) || (prev.Agent == nil) != (p.Agent == nil) {
		return false
	}
	for i := range p.Drills {
		if prev.Drills[i].Object != p.Drills[i].Object {
			return false
		}
	}
	for i := range p.Manifests {
		if prev.Manifests[i].Object != p.Manifests[i].Object {
			return false
		}
	}
	for i := range p.Bad {
		if prev.Bad[i].Key != p.Bad[i].Key || prev.Bad[i].ETag != p.Bad[i].ETag {
			return false
		}
	}
	return p.Agent == nil || prev.Agent.Object == p.Agent.Object
}

// maxProofBytes is the largest document of these kinds read.
const maxProofBytes = max(drill.MaxBytes, manifest.MaxBytes, agentstatus.MaxBytes)

// readProofObject downloads and judges one object: a good document, or a
// *index.BadDoc saying why not, or nil when it is gone. The error is a
// failed download.
func (s *Syncer) readProofObject(ctx context.Context, branch string, o store.ObjectInfo) (any, error) {
	obj := index.Object{Key: o.Key, ETag: o.ETag, Size: o.Size}
	bad := func(reason string) *index.BadDoc {
		d := &index.BadDoc{Key: o.Key, Reason: reason, ETag: o.ETag, Size: o.Size, LastModified: o.LastModified}
		if k, err := layout.ParseKey(o.Key, time.UTC); err == nil && k.Kind == layout.DrillsDir {
			d.Date = index.DateString(k.Date)
		}
		return d
	}
	kind := proofKind(branch, o.Key)
	if kind == layout.DrillsDir {
		if k, err := layout.ParseKey(o.Key, time.UTC); err != nil || k.Kind != layout.DrillsDir {
			return bad("not a drill record name ({YYYY-MM-DD}.json)"), nil
		}
	}
	if o.Size > maxProofBytes {
		return bad(fmt.Sprintf("%d bytes, limit %d (not read)", o.Size, maxProofBytes)), nil
	}
	rc, _, err := s.st.Get(ctx, o.Key)
	if store.IsNotFound(err) {
		return nil, nil // deleted since the listing
	}
	if err != nil {
		return nil, &OpError{What: "read " + o.Key, Err: err}
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxProofBytes+1))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, &OpError{What: "read " + o.Key, Err: err}
	}
	switch kind {
	case layout.DrillsDir:
		r, err := drill.Unmarshal(data)
		if err == nil {
			err = r.Validate()
		}
		if err == nil {
			err = r.CheckKey(o.Key)
		}
		if err != nil {
			return bad(err.Error()), nil
		}
		return &index.Drill{Record: r, Object: obj}, nil
	case layout.ManifestKind:
		m, err := manifest.Unmarshal(data)
		if err == nil {
			err = m.Validate()
		}
		if err == nil {
			err = m.CheckKey(o.Key)
		}
		if err != nil {
			return bad(err.Error()), nil
		}
		return &index.Manifest{Manifest: m, Object: obj}, nil
	default:
		st, err := agentstatus.Decode(strings.NewReader(string(data)))
		if err == nil && st.BranchID != branch {
			err = fmt.Errorf("%w: branch_id %q is not the branch %q of its key", agentstatus.ErrMalformed, st.BranchID, branch)
		}
		if err != nil {
			return bad(err.Error()), nil
		}
		return &index.AgentStatus{Status: st, Object: obj}, nil
	}
}
