// Every English text of the widget. nl.js has the same keys.
export default {
  locale: "en-GB",
  quickExit: "Quick exit",
  quickExitHint: "Or press Shift 3 times.",
  loading: "Loading…",

  chooseTitle: "Who would you like to chat with?",
  chooseLead: "Choose a helpline. You stay anonymous.",
  openNow: "open now",
  closedNow: "closed now",

  factStop: "You can stop at any moment, even in the middle of a sentence.",
  factWiped: "After the chat we delete what was written.",
  startChat: "Start the chat",
  otherHelpline: "Choose another helpline",

  closedTitle: (name) => `${name} is closed now`,
  nextOpening: (when) => `We open again ${when}.`,
  noOpening: "No new opening time is known yet.",
  today: "today",
  tomorrow: "tomorrow",
  onDay: (day) => `on ${day}`,
  at: (day, time) => `${day} at ${time}`,
  weekTitle: "Opening hours for the week ahead",
  closedDay: "closed",
  timeZoneNote: (zone) => `All times are in the ${zone} time zone.`,
  alternativesTitle: "Other ways to reach us",
  opensInNewWindow: "(opens in a new window)",

  fullTitle: "It is very busy right now",
  fullText: "All counsellors are in a chat and the queue is full. Please try again in a few minutes.",
  blockedTitle: "No chat possible now",
  blockedText: "You cannot start a new chat right now.",
  tryAgain: "Try again",

  connecting: "One moment, we are connecting you…",
  waitingTitle: "You are in the queue",
  queuePosition: (n) =>
    n <= 1 ? "You are next." : `There ${n === 2 ? "is 1 person" : `are ${n - 1} people`} ahead of you.`,
  waitLong:
    "It is very busy: it may take more than an hour before it is your turn. You can keep waiting here, or reach us another way.",
  waitSoon: "It will be your turn soon.",
  waitAbout: (minutes) =>
    minutes < 60
      ? `Estimated wait: about ${minutes} ${minutes === 1 ? "minute" : "minutes"}.`
      : `Estimated wait: about ${Math.round(minutes / 60)} ${Math.round(minutes / 60) === 1 ? "hour" : "hours"}.`,
  queueHint: "You can already type what you want to say. The counsellor reads it as soon as the chat starts.",
  chatWith: (name) => `You are chatting with ${name}`,
  chatStarted: (name) => `${name} is here for you now.`,
  typing: (name) => `${name} is typing…`,
  logLabel: "Conversation",
  messageLabel: "Your message",
  enterHint: "Enter sends, Shift+Enter starts a new line.",
  send: "Send",
  you: "You",
  counselor: "Counsellor",
  chatService: "Chat",
  stateSending: "Sending…",
  stateSent: "Sent",
  stateFailed: "Not sent.",
  retry: "Send again",
  reconnecting: "The connection dropped. We are trying again; your chat is kept.",

  endChat: "End chat",
  confirmEndTitle: "End the chat?",
  confirmEndText: "The chat stops and is deleted. You can always start a new chat afterwards.",
  confirmEndYes: "Yes, end it",
  confirmEndNo: "No, keep chatting",

  idleTitle: "Are you still there?",
  idleText: (seconds) =>
    `Nothing has been written for a while. If you do nothing, we will close the chat in ${seconds} seconds.`,
  idleStay: "Yes, I am still here",

  endedTitle: "The chat has ended",
  endedReasons: {
    visitor: "You ended the chat.",
    counselor: "The counsellor ended the chat.",
    timeout: "The connection was gone for too long, so the chat was closed.",
    idle: "The chat was closed because nothing happened for a while.",
    closed: "The chat closed before a counsellor was free. We are sorry you waited for nothing.",
    blocked: "The counsellor ended the chat.",
    gone: "This chat has already ended.",
    restart: "The chat service was restarted, so this chat could not go on. Reload this page in a minute to start a new chat.",
    other: "The chat was closed.",
  },
  endedThanks: "Thank you for your trust. What was written has now been deleted from our server.",
  downloadTitle: "Would you like to keep the chat?",
  downloadText: "You can save the chat as a text file on this device. Anyone who uses this device can then find it.",
  download: "Download the chat",
  newChat: "Start a new chat",

  errorTitle: "Something went wrong",
  errorText: "The chat could not be loaded. Check your internet connection and try again.",

  transcriptTitle: (name, date) => `Chat with ${name}, ${date}`,
  transcriptNote: "This file was made on your own device. The server has deleted the chat.",
  transcriptFile: (id, date) => `chat-${id}-${date}.txt`,
};
