"""The word lists the PII finders match and the compiled line pass looks for (curation.pii.lines):
a module of their own, which the finders and the line pass import without importing each other."""

from __future__ import annotations

# --- person names (curation.pii.names)

PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "del", "della", "du", "dos", "das", "la",
                       "le", "ter", "ten", "zu", "bin", "ibn", "al", "el", "y", "en", "'t"})  # van 't Erve
# Before a single name (``Dear Anna``, ``Mr. Okafor``). Each starts with an ASCII capital.
GREETINGS = ("Dear", "Dr", "Dame", "Hi", "Hello", "Hey", "Thanks", "Thank you", "Cheers", "Regards", "Best",
             "Sincerely", "Sir", "Mr", "Mrs", "Ms", "Mx", "Miss", "Prof")

# --- street types (curation.pii.addresses)

# USPS Publication 28, Appendix C1: primary street suffix names, and their standard abbreviations.
USPS_SUFFIXES = tuple((
    "Alley Avenue Branch Bridge Brook Brooks Burg Burgs Bypass Camp Canyon Cape Causeway Center Centers Circle "
    "Circles Cliff Cliffs Club Common Corner Corners Course Court Courts Cove Coves Creek Crescent Crest Crossing "
    "Crossroad Curve Dale Dam Divide Drive Drives Estate Estates Expressway Extension Extensions Fall Falls Ferry "
    "Field Fields Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort Freeway Garden Gardens Gateway Glen "
    "Glens Green Greens Grove Groves Harbor Harbors Haven Heights Highway Hill Hills Hollow Inlet Island Islands "
    "Isle Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing Lane Light Lights Loaf Lock Locks Lodge "
    "Loop Mall Manor Manors Meadow Meadows Mews Mill Mills Mission Motorway Mount Mountain Mountains Neck Orchard "
    "Oval Overpass Park Parks Parkway Parkways Pass Passage Path Pike Pine Pines Place Plain Plains Plaza Point "
    "Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids Rest Ridge Ridges River Road Roads Route Row Rue Run "
    "Shoal Shoals Shore Shores Skyway Spring Springs Spur Spurs Square Squares Station Stravenue Stream Street "
    "Streets Summit Terrace Throughway Trace Track Trafficway Trail Tunnel Turnpike Underpass Union Unions Valley "
    "Valleys Via Viaduct View Views Village Villages Ville Vista Walk Walks Wall Way Ways Well Wells "
    "Aly Ave Av Blvd Br Brg Byp Cswy Ctr Cir Cl Clf Ct Cv Crk Cres Xing Dr Expy Ext Fwy Gdns Grv Hbr Hts Hwy "
    "Jct Ln Lndg Mnr Mtn Pkwy Pl Plz Pt Rd Rte Sq St Ste Ter Trl Tpke Vw Vlg"
).split())
UK_TYPES = ("Close", "Drove", "Gate", "Wynd", "Parade", "Rise", "Broadway", "Embankment", "Quay")
DE_NL_TYPES = ("straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "ring", "damm", "ufer", "chaussee",
               "steig", "pfad", "straat", "laan", "plein", "gracht", "kade", "singel", "dijk", "pad", "steeg", "baan",
               "hof", "boulevard", "markt", "dreef")
DE_NL_ENDINGS = DE_NL_TYPES + tuple(t.capitalize() for t in DE_NL_TYPES)  # Janin-Noack-Weg
FR_TYPES = ("rue", "avenue", "av.", "boulevard", "bd", "place", "chemin", "impasse", "allée", "allee", "quai", "route",
            "cours", "passage", "square", "voie", "sentier")
IT_ES_TYPES = ("Via", "Viale", "Piazza", "Piazzale", "Corso", "Largo", "Vicolo", "Strada", "Contrada", "Borgo",
               "Rotonda", "Incrocio", "Vial", "Stretto", "Canale", "Lungomare", "Salita", "Calle", "C/", "C.", "Avenida", "Avda.",
               "Paseo", "Plaza", "Camino", "Carretera", "Ronda", "Travesía", "Pasaje", "Pasadizo", "Vía", "Callejón",
               "Cañada", "Rambla", "Acceso", "Urbanización", "Alameda", "Glorieta", "Cuesta", "Calleja", "Rúa")
