package parley

import "context"

// Store is the durable state of a Parley service. Implementations: package
// sqlite (embedded, the default) and package postgres (scale-out). Both
// pass the same conformance suite in package storetest.
//
// Stores persist and never decide: authorisation and event publishing
// belong to package app.
type Store interface {
	UserStore
	DeviceStore
	InviteStore
	ConversationStore
	MessageStore
	SearchStore
	ReceiptStore
	FriendStore
	MediaStore
	PushStore

	// Ping returns nil when the store can serve requests, and EUNAVAILABLE
	// otherwise.
	Ping(ctx context.Context) error
	// Close flushes pending writes and releases the store.
	Close() error
}
