package index

import (
	"github.com/branchwatch/branchwatch/shared/agentstatus"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/manifest"
)

// Object is the listing facts of a stored document.
type Object struct {
	Key  string
	ETag string
	Size int64
}

// Drill is one good restore drill record ({branch}/drills/DATE.json).
type Drill struct {
	drill.Record
	Object
}

// Manifest is one good dump manifest ({dump key}.manifest.json).
type Manifest struct {
	manifest.Manifest
	Object
}

// AgentStatus is the branch's good agent status document.
type AgentStatus struct {
	agentstatus.Status
	Object
}

// Proof is what a branch shows of its backups beyond their listing: the
// restore drills (by key: oldest first), the dumps' manifests (by key),
// the agent's status, and the documents of these kinds that could not be
// accepted, with their reasons (by key).
type Proof struct {
	Drills    []Drill
	Manifests []Manifest
	Agent     *AgentStatus
	Bad       []BadDoc
}

// LatestDrill is the newest drill, or nil.
func (p *Proof) LatestDrill() *Drill {
	if p == nil || len(p.Drills) == 0 {
		return nil
	}
	return &p.Drills[len(p.Drills)-1]
}

// Manifest returns the manifest of the dump at key.
func (p *Proof) Manifest(dumpKey string) (*Manifest, bool) {
	if p == nil {
		return nil, false
	}
	for i := range p.Manifests {
		if p.Manifests[i].DumpKey == dumpKey {
			return &p.Manifests[i], true
		}
	}
	return nil, false
}

// Find returns the object of key among the good and bad documents (a
// *Drill, *Manifest, *AgentStatus or *BadDoc) and its listing facts.
func (p *Proof) Find(key string) (any, Object, bool) {
	if p == nil {
		return nil, Object{}, false
	}
	for i := range p.Drills {
		if p.Drills[i].Key == key {
			return &p.Drills[i], p.Drills[i].Object, true
		}
	}
	for i := range p.Manifests {
		if p.Manifests[i].Key == key {
			return &p.Manifests[i], p.Manifests[i].Object, true
		}
	}
	if p.Agent != nil && p.Agent.Key == key {
		return p.Agent, p.Agent.Object, true
	}
	for i := range p.Bad {
		if p.Bad[i].Key == key {
			return &p.Bad[i], Object{Key: key, ETag: p.Bad[i].ETag, Size: p.Bad[i].Size}, true
		}
	}
	return nil, Object{}, false
}

// Reuse returns the previous version of an object when its listing is
// unchanged: a *Drill, *Manifest, *AgentStatus or *BadDoc.
func (p *Proof) Reuse(o Object) (any, bool) {
	v, old, ok := p.Find(o.Key)
	if !ok || old.ETag != o.ETag || old.Size != o.Size {
		return nil, false
	}
	return v, true
}
