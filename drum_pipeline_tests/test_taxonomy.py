import pytest

from drum_pipeline.labels.taxonomy import DEFAULT_TAXONOMY_PATH, TaxonomyError, load_taxonomy

# (name as found in real packs, fine label expected; "" when the name must not be labelled)
NAMES = [
    ("Kick 01", "kick"), ("VEH Kick 012", "kick"), ("BD_03", "kick"), ("808Kick", "kick"), ("Kick (Tama Superstar 22in)", "kick"),
    ("kick-hard-04", "kick"), ("KICK_DRUM_2", "kick"), ("Bass Drum 3", "kick"), ("BassDrum05", "kick"), ("bd-long", "kick"),
    ("Kicks", "kick"), ("Kik 7", "kick"), ("Sub Kick", "kick"),
    ("Snare 4", "snare"), ("SD_01", "snare"), ("snare_top_v3", "snare"), ("Snare Drum 12", "snare"), ("SnareHard2", "snare"),
    ("Rimshot", "rimshot"), ("Rim Shot 2", "rimshot"), ("RS_808", "rimshot"), ("Snare Rim", "rimshot"),
    ("Side Stick", "sidestick"), ("SideStick_03", "sidestick"), ("cross-stick", "sidestick"),
    ("ClosedHH", "hihat_closed"), ("Closed Hat 2", "hihat_closed"), ("CHH 05", "hihat_closed"), ("808 Hat Closed", "hihat_closed"),
    ("Hi-Hat Closed", "hihat_closed"), ("hihat_closed_01", "hihat_closed"), ("CH", "hihat_closed"), ("HiHatClosed3", "hihat_closed"),
    ("HH_Open2", "hihat_open"), ("HH_Open_2", "hihat_open"), ("OHH", "hihat_open"), ("Open Hat 4", "hihat_open"), ("hi hat open", "hihat_open"),
    ("Hi-Hat Pedal", "hihat_pedal"), ("Pedal HH", "hihat_pedal"), ("PHH_2", "hihat_pedal"), ("Foot Hat", "hihat_pedal"),
    ("drum_cymbal_closed", "hihat_closed"), ("drum_cymbal_open", "hihat_open"), ("drum_cymbal_pedal", "hihat_pedal"),
    ("drum_bass_hard", "kick"), ("Hats", "hihat"), ("Hi Hats", "hihat"), ("HH 01", "hihat"), ("hihat", "hihat"),
    ("Crash 18in", "crash"), ("CR_02", "crash"), ("Crash Cymbal 3", "crash"), ("crash-16", "crash"),
    ("Ride", "ride"), ("Ride 20in", "ride"), ("RD_1", "ride"), ("Ride Cymbal Edge", "ride"),
    ("Ride Bell", "ride_bell"), ("Crash-Ride Bell", "ride_bell"), ("Bell Ride 2", "ride_bell"),
    ("Splash 10in", "splash"), ("China 16in", "china"), ("ChinaCymbal", "china"), ("Cymbals", "cymbal"), ("Cym 3", "cymbal"),
    ("Floor Tom", "tom_low"), ("Tom Low 2", "tom_low"), ("LT", "tom_low"), ("Rack Tom", "tom_high"), ("Tom Hi", "tom_high"),
    ("HT_03", "tom_high"), ("High Tom 1", "tom_high"), ("Mid Tom", "tom_mid"), ("MT", "tom_mid"), ("TOM_MID_04", "tom_mid"),
    ("Toms", "tom"), ("Tom 3", "tom"),
    ("Clap 4", "clap"), ("CP_808", "clap"), ("Hand Clap", "clap"), ("Claps", "clap"), ("Finger Snap", "snap"),
    ("808_Cowbell", "cowbell"), ("Cow Bell", "cowbell"), ("CB", "cowbell"), ("Clave", "clave"), ("Claves 2", "clave"),
    ("Conga Hi", "conga"), ("Conga Lo 3", "conga"), ("Congas", "conga"), ("Bongo Hi", "bongo"), ("Djembe Slap", "djembe"),
    ("Tabla Na", "tabla"), ("Timbales Hi", "timbale"), ("Cajon Thump", "cajon"), ("Shaker 3", "shaker"), ("Egg Shaker", "shaker"),
    ("Maracas", "maraca"), ("Cabasa", "cabasa"), ("Tambourine 2", "tambourine"), ("Tamb_01", "tambourine"),
    ("Triangle Open", "triangle"), ("Woodblock", "woodblock"), ("Wood Block 2", "woodblock"), ("Agogo Bell", "agogo"),
    ("Guiro", "guiro"), ("Vibra Slap", "vibraslap"), ("Cuica Open", "cuica"), ("Quica Low", "cuica"),
    ("Perc 7", "percussion"), ("Percs", "percussion"),
    # 8.3 names: drum words glued together
    ("snardrum", "snare"), ("hihatcym", "hihat"), ("ridecymb", "ride"), ("crashcym", "crash"), ("tomhidrm", "tom_high"),
    ("tomlowdr", "tom_low"), ("sn_dub", "snare"), ("Crsh 2", "crash"),
    # no drum word: unlabelled
    ("s00421", ""), ("hit 7", ""), ("Audio 12", ""), ("untitled", ""), ("0x1f", ""),
    ("drumsynth", ""), ("tomorrow", ""),  # a non-drum word never comes out of a glued one
]

NON_DRUM = ["Drum Loop 120bpm", "Beat Loop", "Break Loop 95bpm", "808 Bass F", "Sub Bass C1", "Fx Riser", "Sweep Up",
            "Vox Hey", "Vocal Chop", "Synth Stab", "Piano Chord", "Pluck C4", "Kick Loop 01", "Tom Fill 3",
            "Perc Organ C4"]
AMBIGUOUS = ["Kick Snare Layer", "Clap Snare", "Tom Cymbal", "Kick and Hat"]


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


def test_there_are_enough_real_world_names():
    assert len(NAMES) >= 80


@pytest.mark.parametrize("name, fine", NAMES)
def test_names_as_packs_write_them(taxonomy, name, fine):
    found = taxonomy.match(name)
    if fine:
        assert (found.status, found.fine_label) == ("labelled", fine), found
        assert found.label == taxonomy.fine_to_class[fine]
    else:
        assert found.status == "none", found


@pytest.mark.parametrize("name", NON_DRUM)
def test_non_drum_material_is_recognised(taxonomy, name):
    assert taxonomy.match(name).status == "non_drum"


@pytest.mark.parametrize("name", AMBIGUOUS)
def test_two_classes_in_one_name_are_ambiguous(taxonomy, name):
    found = taxonomy.match(name)
    assert found.status == "ambiguous" and found.fine_label == "" and "more than one class" in found.reason


def test_packaged_taxonomy_covers_the_design(taxonomy):
    assert set(taxonomy.classes) == {"kick", "snare", "hihat", "tom", "cymbal", "percussion"}
    assert len(taxonomy.fine_to_class) >= 34
    assert taxonomy.fine_to_class["rimshot"] == "snare" and taxonomy.fine_to_class["clap"] == "percussion"


def _edited(tmp_path, old, new):
    text = DEFAULT_TAXONOMY_PATH.read_text()
    assert old in text
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text.replace(old, new, 1))
    line = text[: text.index(old)].count("\n") + 1
    return path, line


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("  kick: {class: kick, names: [kick]}", "  kick: {class: kicks, names: [kick]}", "unknown class 'kicks'"),
        ("  clave: {class: percussion, names: [clave]}", "  clave: {names: [clave]}", "no mapping to a canonical class"),
        ("  guiro: {class: percussion, names: [guiro]}", "  guiro: {class: percussion, names: [hat]}", "can never match"),
        ("  splash: {class: cymbal, names: [splash]}", "  splash: {class: cymbal, names: [splash10in]}", "can never match"),
        ("classes: [kick,", "classes: [kicks,", "unknown canonical class 'kicks'"),
    ],
)
def test_validation_names_the_line(tmp_path, old, new, message):
    path, line = _edited(tmp_path, old, new)
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    assert message in str(info.value)
    assert f"{path}:{line}:" in str(info.value)


def test_unreadable_and_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("classes: [kick\n")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(tmp_path / "bad.yaml")
