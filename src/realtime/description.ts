// A machine-readable description of the Socket.IO interface (served at /api/realtime-schema/).

const point = { sos_id: 'integer', latitude: 'number', longitude: 'number', timestamp: 'ISO 8601 string' }
const ack = 'Optional callback: {ok: true, data} | {ok: false, error: {code, message, fields?}}'

export const REALTIME_DESCRIPTION = {
  protocol: 'Socket.IO v4 (Engine.IO v4), default namespace "/", path /socket.io/',
  port: 'SOCKET_PORT (default 8001)',
  handshake: { auth: { token: 'API token (optional; also accepted as an Authorization: Token <key> header)' } },
  clientEvents: {
    join_sos_channel: { payload: {}, who: 'staff (legacy: anyone)', answers: ['room_joined {channel, message}', 'sos_snapshot {channel, sos: [open SOS], truncated}'], then: ['new_sos', 'sos_resolved'], ack },
    join_sos_room: {
      payload: { room_id: 'uuid (or the bare string)', sos_token: 'string, unless staff' },
      who: 'staff, or the holder of that SOS token (legacy: anyone)',
      answers: ['room_joined {room_id, message}', 'location_history {updates: [point], truncated} (only when there is stored history; no top-level sos_id)'],
      then: ['location_history (one point)', 'sos_resolved'],
      ack,
    },
    join_officer_room: { payload: { unit_number: 'string (or the bare string)' }, who: 'officers of that unit, dispatchers, admins (legacy: anyone)', answers: ['room_joined {unit_number, message}'], then: ['unit_location_update', 'sos_resolved'], ack },
    join_location_tracking_channel: { payload: {}, who: 'staff (legacy: anyone)', answers: ['room_joined {channel, message}', 'location_snapshot {channel, positions: [last point of each open SOS], truncated}'], then: ['location_tracking_update'], ack },
    join_officer_update: { payload: {}, who: 'staff (legacy: anyone)', answers: ['room_joined {channel: "officer_tracking_channel", message}', 'unit_snapshot {channel, units: [last position of each unit], truncated}'], then: ['unit_loc'], ack },
    officer_location_update: { payload: { unit_id: 'string', latitude: 'number', longitude: 'number', timestamp: 'ISO 8601 or epoch ms (optional)' }, who: 'an officer, for their own unit (legacy: anyone)', broadcasts: 'unit_loc', ack },
    create_sos: { payload: { name: 'string', sos_type: '0|1', initial_latitude: 'number', initial_longitude: 'number', contacts: '[{name, phone (E.164), email?}] (optional; trusted contacts, alerted after CONTACT_GRACE_SECONDS)' }, who: 'anyone', answers: ['create_sos_response {success, data|error}'], ack },
    update_location: { payload: { sos_request: 'integer', latitude: 'number', longitude: 'number', sos_token: 'string' }, who: 'SOS token holder, owner, staff (legacy: anyone)', answers: ['update_location_response {success, data|error}'], ack },
  },
  serverEvents: {
    connection_established: { message: 'string', sid: 'string', user: '{id, username, role} | null' },
    room_joined: { message: 'string', channel: 'string?', room_id: 'string?', unit_number: 'string?' },
    new_sos: { room: 'sos_channel', payload: { sos_id: 'integer', room_id: 'uuid', name: 'string', sos_type: '0|1', latitude: 'number', longitude: 'number', created_at: 'ISO 8601' } },
    sos_snapshot: {
      to: 'a socket that has just joined sos_channel',
      payload: { channel: 'sos_channel', sos: '[new_sos fields + status: active|acknowledged|dispatched, unit_number_dispatched: string|null], newest first, at most SNAPSHOT_LIMIT', truncated: 'boolean' },
      note: 'The channel is joined before the snapshot is read, so nothing falls between them; an SOS may appear in both the snapshot and a new_sos (de-duplicate on sos_id).',
    },
    location_snapshot: { to: 'a socket that has just joined location_tracking_channel', payload: { channel: 'location_tracking_channel', positions: '[{unit_number, ...point}] (last point of each open SOS)', truncated: 'boolean' } },
    unit_snapshot: { to: 'a socket that has just joined officer_tracking_channel', payload: { channel: 'officer_tracking_channel', units: '[{unit_id, latitude, longitude, timestamp}]', truncated: 'boolean' } },
    location_history: { room: 'the SOS room', payload: point },
    unit_location_update: { room: 'unit_<unit_number>', payload: point },
    location_tracking_update: { room: 'location_tracking_channel', payload: { unit_number: 'string | null', ...point } },
    unit_loc: { room: 'officer_tracking_channel', payload: { unit_id: 'string', latitude: 'number', longitude: 'number', timestamp: 'ISO 8601' } },
    sos_resolved: { room: 'the SOS room, the dispatched unit room, sos_channel', payload: { sos_id: 'integer', room_id: 'uuid', status: 'resolved | cancelled' } },
    error: { payload: { code: 'string', message: 'string', event: 'string?', fields: 'object?' } },
  },
}
