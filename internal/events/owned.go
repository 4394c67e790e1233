package events

import (
	"errors"
	"slices"

	"github.com/micro/go-micro/v2/registry"

	"github.com/gomicro-stack/gomicro-stack/internal/names"
)

// SubscriberTopics are the topics each binary subscribes to. Through go-micro's http broker a
// subscription is a registration in the registry; these are the only ones of a binary that
// publishers believe.
var SubscriberTopics = map[string][]string{
	"gateway": {TokensRevoked},
	"user":    {UserDeleted},
	"greeter": {UserRegistered, UserLoggedIn},
}

// BrokerName is where owner's http broker registers its subscriptions (names.BrokerOf): a name
// of its own, which only owner's Consul token may write (consulacl.Grants). go-micro registers
// every subscriber of every binary as names.HTTPBroker, so any token that subscribed could also
// deregister the others' subscriptions and register rogue ones.
func BrokerName(owner string) string { return names.BrokerOf(owner) }

// ownedRegistry is the registry as owner's http broker sees it: its subscriptions go to
// BrokerName(owner), and names.HTTPBroker reads as the subscriptions of every owner, each
// keeping only the topics that owner subscribes to (SubscriberTopics).
type ownedRegistry struct {
	registry.Registry
	owner string
}

func (r *ownedRegistry) rename(s *registry.Service) *registry.Service {
	if s.Name != names.HTTPBroker {
		return s
	}
	owned := *s
	owned.Name = BrokerName(r.owner)
	return &owned
}

func (r *ownedRegistry) Register(s *registry.Service, opts ...registry.RegisterOption) error {
	return r.Registry.Register(r.rename(s), opts...)
}

func (r *ownedRegistry) Deregister(s *registry.Service, opts ...registry.DeregisterOption) error {
	return r.Registry.Deregister(r.rename(s), opts...)
}

func (r *ownedRegistry) GetService(name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if name != names.HTTPBroker {
		return r.Registry.GetService(name, opts...)
	}
	// One entry per version, every owner's nodes in it: the http broker reads this through
	// go-micro's registry cache, which merges news of a service into its entry of the same
	// version; with an entry per owner, news of one owner's subscriber went into another's
	// entry, and that subscriber got every event twice.
	var all []*registry.Service
	byVersion := map[string]*registry.Service{}
	owners := make([]string, 0, len(SubscriberTopics))
	for owner := range SubscriberTopics {
		owners = append(owners, owner)
	}
	slices.Sort(owners)
	for _, owner := range owners {
		services, err := r.Registry.GetService(BrokerName(owner), opts...)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, s := range services {
			believed := believe(s)
			if believed == nil || len(believed.Nodes) == 0 {
				continue
			}
			if merged, ok := byVersion[believed.Version]; ok {
				merged.Nodes = append(merged.Nodes, believed.Nodes...)
				continue
			}
			byVersion[believed.Version] = believed
			all = append(all, believed)
		}
	}
	if len(all) == 0 {
		return nil, registry.ErrNotFound
	}
	return all, nil
}

// believe is s, an owner's broker registration, as names.HTTPBroker with only the nodes of
// topics its owner subscribes to; nil if s is no owner's.
func believe(s *registry.Service) *registry.Service {
	for owner, topics := range SubscriberTopics {
		if s.Name != BrokerName(owner) {
			continue
		}
		believed := *s
		believed.Name = names.HTTPBroker
		believed.Nodes = nil
		for _, n := range s.Nodes {
			if slices.Contains(topics, n.Metadata["topic"]) {
				believed.Nodes = append(believed.Nodes, n)
			}
		}
		return &believed
	}
	return nil
}

// Watch passes the owners' broker registrations on as believe makes them: the http broker's
// cache of names.HTTPBroker follows them as it followed the one name before.
func (r *ownedRegistry) Watch(opts ...registry.WatchOption) (registry.Watcher, error) {
	w, err := r.Registry.Watch(opts...)
	if err != nil {
		return nil, err
	}
	return believingWatcher{w}, nil
}

type believingWatcher struct{ registry.Watcher }

func (w believingWatcher) Next() (*registry.Result, error) {
	for {
		res, err := w.Watcher.Next()
		if err != nil || res == nil || res.Service == nil {
			return res, err
		}
		switch {
		case res.Service.Name == names.HTTPBroker:
			// Registered under the shared name by something that is none of ours.
			continue
		case believe(res.Service) != nil:
			believed := believe(res.Service)
			// A node of a topic its owner does not subscribe to is dropped; a result left
			// without nodes would read as "the whole service is gone" unless it said so.
			if len(believed.Nodes) == 0 && len(res.Service.Nodes) > 0 {
				continue
			}
			return &registry.Result{Action: res.Action, Service: believed}, nil
		}
		return res, nil
	}
}
