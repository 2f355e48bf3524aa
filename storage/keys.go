package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
)

// Key layout. IDs and names never contain '/', so every prefix below is
// unambiguous. Keys that need time order put the time first as 8 big-endian
// bytes (unix milliseconds) or rely on KSUID ids, which sort by creation time.
const (
	pApplied    = "meta/applied"    // uint64 raft index of the last applied entry
	pAdminHash  = "meta/admin-hash" // sha256 of the generated admin token
	pApp        = "app/"            // app/<appID> -> App
	pAppUID     = "app-uid/"        // app-uid/<uid> -> appID
	pEndpoint   = "ep/"             // ep/<appID>/<epID> -> Endpoint
	pEpUID      = "ep-uid/"         // ep-uid/<appID>/<uid> -> epID
	pEventType  = "et/"             // et/<name> -> EventType
	pMessage    = "msg/"            // msg/<appID>/<msgID> -> Message
	pEventID    = "msg-eid/"        // msg-eid/<appID>/<eventID> -> msgID
	pDelivery   = "dl/"             // dl/<appID>/<msgID>/<epID> -> Delivery
	pEpMsg      = "dl-ep/"          // dl-ep/<appID>/<epID>/<msgID> -> empty
	pAttempt    = "att/"            // att/<appID>/<msgID>/<attemptID> -> Attempt
	pEpAttempt  = "att-ep/"         // att-ep/<appID>/<epID>/<attemptID> -> msgID
	pSchedule   = "q/"              // q/<due ms 8B>/<msgID>/<epID> -> Due
	pIdem       = "idem/"           // idem/<sha256> -> IdempotentResponse
	pExpiry     = "exp/"            // exp/<at ms 8B>/<key> -> empty: key to delete at that time
	pNode       = "node/"           // node/<nodeID> -> Node
	pRemoved    = "removed-node/"   // removed-node/<nodeID> -> RemovedNode: may not re-join
	pToken      = "tok/"            // tok/<sha256 hex> -> AppToken
	pAppToken   = "tok-app/"        // tok-app/<appID>/<sha256 hex> -> empty
	pTask       = "task/"           // task/<taskID> -> Task
	pPayloadExp = "pexp/"           // pexp/<at ms 8B>/<appID>/<msgID> -> empty: payload to drop then
	pEpFailing  = "ep-fail/"        // ep-fail/<appID>/<epID> -> unix ns of the first failure since the last success
)

func key(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return b
}

func appKey(appID string) []byte              { return key(pApp + appID) }
func appUIDKey(uid string) []byte             { return key(pAppUID + uid) }
func endpointKey(appID, epID string) []byte   { return key(pEndpoint+appID, epID) }
func endpointPrefix(appID string) []byte      { return key(pEndpoint+appID, "") }
func epUIDKey(appID, uid string) []byte       { return key(pEpUID+appID, uid) }
func epFailingKey(appID, epID string) []byte  { return key(pEpFailing+appID, epID) }
func eventTypeKey(name string) []byte         { return key(pEventType + name) }
func messageKey(appID, msgID string) []byte   { return key(pMessage+appID, msgID) }
func messagePrefix(appID string) []byte       { return key(pMessage+appID, "") }
func eventIDKey(appID, eventID string) []byte { return key(pEventID+appID, eventID) }
func deliveryKey(appID, msgID, epID string) []byte {
	return key(pDelivery+appID, msgID, epID)
}
func deliveryPrefix(appID, msgID string) []byte { return key(pDelivery+appID, msgID, "") }
func epMsgKey(appID, epID, msgID string) []byte { return key(pEpMsg+appID, epID, msgID) }
func epMsgPrefix(appID, epID string) []byte     { return key(pEpMsg+appID, epID, "") }
func attemptKey(appID, msgID, attID string) []byte {
	return key(pAttempt+appID, msgID, attID)
}
func attemptPrefix(appID, msgID string) []byte { return key(pAttempt+appID, msgID, "") }
func epAttemptKey(appID, epID, attID string) []byte {
	return key(pEpAttempt+appID, epID, attID)
}
func epAttemptPrefix(appID, epID string) []byte { return key(pEpAttempt+appID, epID, "") }
func idemKey(hash []byte) []byte                { return append([]byte(pIdem), hash...) }
func nodeKey(id string) []byte                  { return key(pNode + id) }
func removedKey(id string) []byte               { return key(pRemoved + id) }
func tokenKey(hash []byte) []byte               { return key(pToken + hex.EncodeToString(hash)) }
func appTokenKey(appID string, hash []byte) []byte {
	return key(pAppToken+appID, hex.EncodeToString(hash))
}
func appTokenPrefix(appID string) []byte { return key(pAppToken+appID, "") }

// ScheduleKey is the position of one pending attempt in the time-ordered
// schedule index: q/<due unix-ms, 8 bytes big-endian>/<msgID>/<epID>.
type ScheduleKey struct {
	DueMs      int64
	MsgID      string
	EndpointID string
}

// Bytes returns the stored form of k.
func (k ScheduleKey) Bytes() []byte {
	b := make([]byte, 0, len(pSchedule)+8+2+len(k.MsgID)+len(k.EndpointID))
	b = append(b, pSchedule...)
	b = binary.BigEndian.AppendUint64(b, uint64(k.DueMs))
	b = append(b, '/')
	b = append(b, k.MsgID...)
	b = append(b, '/')
	b = append(b, k.EndpointID...)
	return b
}

// ParseScheduleKey reads a stored schedule key.
func ParseScheduleKey(b []byte) (ScheduleKey, error) {
	rest, ok := bytes.CutPrefix(b, []byte(pSchedule))
	if !ok || len(rest) < 10 || rest[8] != '/' {
		return ScheduleKey{}, ErrCorrupt
	}
	due := int64(binary.BigEndian.Uint64(rest[:8]))
	msg, ep, ok := bytes.Cut(rest[9:], []byte{'/'})
	if !ok || len(msg) == 0 || len(ep) == 0 {
		return ScheduleKey{}, ErrCorrupt
	}
	return ScheduleKey{DueMs: due, MsgID: string(msg), EndpointID: string(ep)}, nil
}

// scheduleUpTo returns the first key after every schedule key due at or
// before dueMs, the exclusive end of a scan.
func scheduleUpTo(dueMs int64) []byte {
	b := append([]byte(pSchedule), make([]byte, 8)...)
	binary.BigEndian.PutUint64(b[len(pSchedule):], uint64(dueMs+1))
	return b
}

func expiryKey(atMs int64, target []byte) []byte {
	b := make([]byte, 0, len(pExpiry)+9+len(target))
	b = append(b, pExpiry...)
	b = binary.BigEndian.AppendUint64(b, uint64(atMs))
	b = append(b, '/')
	return append(b, target...)
}

func expiryTarget(k []byte) (atMs int64, target []byte, ok bool) {
	rest, ok := bytes.CutPrefix(k, []byte(pExpiry))
	if !ok || len(rest) < 10 || rest[8] != '/' {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(rest[:8])), rest[9:], true
}
