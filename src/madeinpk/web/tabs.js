// One WebSocket for every tab of this browser that shows the same thing (an auction, the
// alerts): the tab holding the Web Lock `name` opens it and relays everything it receives over
// the BroadcastChannel `name`; the other tabs send through it. When that tab closes, the lock
// passes to another tab, which opens the socket from where it stood (its since_seq). A tab that
// joins asks for the current state, so every tab stays in step. Without BroadcastChannel or
// Web Locks each tab simply has its own socket.
//
// connect({ message, status }) opens (and keeps reopening) the leader's socket and returns
// { send(object) }; snapshot() returns this tab's current state as a message, or null.

export const TAB_ID = Math.random().toString(36).slice(2, 10);

export function shareSocket(name, connect, { onMessage, onStatus, snapshot }) {
  let leader = null;
  let live = false;
  const shared = "BroadcastChannel" in window && navigator.locks;
  const channel = shared ? new BroadcastChannel(name) : null;
  const post = (data) => channel?.postMessage(data);

  const lead = () => {
    leader = connect({
      message: (message) => { onMessage(message); post({ kind: "message", message }); },
      status: (isLive) => { live = isLive; onStatus(isLive); post({ kind: "status", live: isLive }); },
    });
  };

  if (!shared) {
    lead();
    return { send: (message) => leader.send(message), isLeader: () => true };
  }
  channel.onmessage = ({ data }) => {
    if (data.kind === "message") onMessage(data.message);
    else if (data.kind === "status") { live = data.live; onStatus(data.live); }
    else if (data.kind === "send" && leader) leader.send(data.message);
    else if (data.kind === "hello" && leader) {
      const state = snapshot();
      if (state) post({ kind: "message", message: state });
      post({ kind: "status", live });
    }
  };
  // Held for the tab's whole life: the promise never settles.
  navigator.locks.request(name, () => new Promise(() => lead()));
  post({ kind: "hello" });
  return {
    send: (message) => (leader ? leader.send(message) : post({ kind: "send", message })),
    isLeader: () => leader !== null,
  };
}
