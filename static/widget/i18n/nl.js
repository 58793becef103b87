// Every Dutch text of the widget. en.js has the same keys.
export default {
  locale: "nl-NL",
  quickExit: "Snel weg",
  quickExitHint: "Of druk 3 keer op Shift.",
  loading: "Even laden…",

  chooseTitle: "Met wie wil je chatten?",
  chooseLead: "Kies een hulplijn. Je blijft anoniem.",
  openNow: "nu open",
  closedNow: "nu gesloten",

  factStop: "Je kunt altijd stoppen, ook midden in een zin.",
  factWiped: "Na het gesprek wissen we wat er geschreven is.",
  startChat: "Start de chat",
  otherHelpline: "Andere hulplijn kiezen",

  closedTitle: (name) => `${name} is nu gesloten`,
  nextOpening: (when) => `We zijn weer open ${when}.`,
  noOpening: "Er is nog geen nieuwe openingstijd bekend.",
  today: "vandaag",
  tomorrow: "morgen",
  onDay: (day) => `op ${day}`,
  at: (day, time) => `${day} om ${time}`,
  weekTitle: "Openingstijden komende week",
  closedDay: "gesloten",
  timeZoneNote: (zone) => `Alle tijden zijn in de tijdzone ${zone}.`,
  alternativesTitle: "Je kunt ons ook bereiken",
  opensInNewWindow: "(opent in een nieuw venster)",

  fullTitle: "Het is nu erg druk",
  fullText:
    "Alle hulpverleners zijn in gesprek en de wachtrij is vol. Probeer het over een paar minuten opnieuw.",
  blockedTitle: "Nu geen gesprek mogelijk",
  blockedText: "Je kunt op dit moment geen nieuw gesprek starten.",
  tryAgain: "Probeer het opnieuw",

  connecting: "Even geduld, we verbinden je…",
  waitingTitle: "Je bent in de wachtrij",
  queuePosition: (n) =>
    n <= 1 ? "Je bent de volgende." : `Er ${n === 2 ? "is 1 persoon" : `zijn ${n - 1} mensen`} voor je.`,
  waitLong:
    "Het is erg druk: het kan langer dan een uur duren voordat je aan de beurt bent. Je kunt hier blijven wachten, of ons op een andere manier bereiken.",
  waitSoon: "Je bent zo aan de beurt.",
  waitAbout: (minutes) =>
    minutes < 60
      ? `Geschatte wachttijd: ongeveer ${minutes} ${minutes === 1 ? "minuut" : "minuten"}.`
      : `Geschatte wachttijd: ongeveer ${Math.round(minutes / 60)} uur.`,
  queueHint:
    "Je kunt alvast typen wat je wilt vertellen. De hulpverlener leest het zodra het gesprek begint.",
  chatWith: (name) => `Je chat met ${name}`,
  chatStarted: (name) => `${name} is er nu voor je.`,
  typing: (name) => `${name} typt…`,
  logLabel: "Gesprek",
  messageLabel: "Je bericht",
  enterHint: "Enter verstuurt, Shift+Enter begint een nieuwe regel.",
  send: "Versturen",
  you: "Jij",
  counselor: "Hulpverlener",
  chatService: "Chat",
  stateSending: "Wordt verzonden…",
  stateSent: "Verzonden",
  stateFailed: "Niet verzonden.",
  retry: "Opnieuw versturen",
  reconnecting: "De verbinding is even weg. We proberen het opnieuw; je gesprek blijft bewaard.",

  endChat: "Gesprek beëindigen",
  confirmEndTitle: "Gesprek beëindigen?",
  confirmEndText: "Het gesprek stopt en wordt gewist. Je kunt daarna altijd een nieuw gesprek beginnen.",
  confirmEndYes: "Ja, beëindigen",
  confirmEndNo: "Nee, verder chatten",

  idleTitle: "Ben je er nog?",
  idleText: (seconds) =>
    `Er is al een tijdje niets geschreven. Als je niets doet, sluiten we het gesprek over ${seconds} seconden.`,
  idleStay: "Ja, ik ben er nog",

  endedTitle: "Het gesprek is beëindigd",
  endedReasons: {
    visitor: "Je hebt het gesprek beëindigd.",
    counselor: "De hulpverlener heeft het gesprek beëindigd.",
    timeout: "De verbinding was te lang weg. Daarom is het gesprek gesloten.",
    idle: "Het gesprek is gesloten omdat er een tijd niets gebeurde.",
    closed: "De chat is gesloten voordat er een hulpverlener vrij was. Sorry dat je voor niets hebt gewacht.",
    blocked: "De hulpverlener heeft het gesprek beëindigd.",
    gone: "Dit gesprek is al afgelopen.",
    restart: "De chatdienst werd opnieuw gestart. Daardoor kon dit gesprek niet verder. Open deze pagina over een minuut opnieuw om een nieuw gesprek te beginnen.",
    other: "Het gesprek is gesloten.",
  },
  endedThanks: "Dank je wel voor je vertrouwen. Wat er geschreven is, is nu van onze server gewist.",
  downloadTitle: "Wil je het gesprek bewaren?",
  downloadText:
    "Je kunt het gesprek als tekstbestand op dit apparaat opslaan. Iedereen die dit apparaat gebruikt, kan het dan vinden.",
  download: "Gesprek downloaden",
  newChat: "Nieuw gesprek beginnen",

  errorTitle: "Er ging iets mis",
  errorText: "De chat kon niet worden geladen. Controleer je internetverbinding en probeer het opnieuw.",

  transcriptTitle: (name, date) => `Chatgesprek met ${name}, ${date}`,
  transcriptNote: "Dit bestand is op je eigen apparaat gemaakt. De server heeft het gesprek gewist.",
  transcriptFile: (id, date) => `chat-${id}-${date}.txt`,
};
