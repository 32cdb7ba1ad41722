//go:build !linux

package overlay

import "context"

func (l *Listing) replay(ctx context.Context, read bool) source {
	return func(func(*entry) error) error { return needLinux("read overlay layer " + l.root) }
}

func rootNodeID(root string) (nodeID, error) {
	return nodeID{}, needLinux("read overlay layer " + root)
}
