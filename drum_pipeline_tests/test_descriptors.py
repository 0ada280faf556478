"""The descriptor classifier, the ensemble's third member, and the ensemble it joins."""

import numpy as np
import pytest

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.descriptors import (
    BalancedTrees,
    ExportedTrees,
    class_probabilities,
    descriptors,
    train_descriptor_classifier,
)
from drum_pipeline.models.inference import ensemble_probabilities
from drum_pipeline.models.synthetic import EVALUATION_STREAM, synthetic_split

PARAMS = FeatureParams()


@pytest.fixture(scope="module")
def drums():
    taxonomy = load_taxonomy()
    classes = list(taxonomy.classes)
    train = synthetic_split(taxonomy.fine_to_class, classes, 6, PARAMS, seed=1)
    fresh = synthetic_split(taxonomy.fine_to_class, classes, 3, PARAMS, 1, EVALUATION_STREAM)
    return classes, train, fresh


def test_descriptors_are_finite_and_one_row_per_sound(drums):
    _, train, _ = drums
    x = descriptors(train.logmel[:5], train.duration[:5], PARAMS)
    assert x.shape[0] == 5 and np.isfinite(x).all()
    silent = descriptors(np.full((1, PARAMS.n_mels, PARAMS.n_frames), -80.0, np.float32), np.array([0.5]), PARAMS)
    assert np.isfinite(silent).all()


def test_the_descriptor_classifier_names_drums_it_never_heard(drums):
    classes, train, fresh = drums
    model = train_descriptor_classifier(train.logmel, train.duration, train.y, PARAMS)
    probabilities = class_probabilities(model, descriptors(fresh.logmel, fresh.duration, PARAMS), len(classes))
    assert probabilities.shape == (len(fresh.y), len(classes))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == fresh.y) >= 0.6  # six classes: chance is about 0.17


def test_a_class_the_library_lacks_gets_no_probability(drums):
    classes, train, fresh = drums
    kick = classes.index("kick")
    keep = train.y != kick
    model = train_descriptor_classifier(train.logmel[keep], train.duration[keep], train.y[keep], PARAMS)
    probabilities = class_probabilities(model, descriptors(fresh.logmel, fresh.duration, PARAMS), len(classes))
    assert probabilities.shape[1] == len(classes) and (probabilities[:, kick] == 0).all()


def test_balanced_trees_answer_as_if_the_classes_were_equally_common():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    # two overlapping classes, nine times more of the first: equally common, the boundary would be near 0.75
    x, y = np.r_[rng.normal(0, 1, 900), rng.normal(1.5, 1, 100)][:, None], np.r_[np.zeros(900, int), np.ones(100, int)]
    rare = rng.normal(1.5, 1, (500, 1))  # fresh sounds of the rare class
    plain = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0).fit(x, y)
    balanced = BalancedTrees(seed=0).fit(x, y)
    assert np.allclose(balanced.predict_proba(rare).sum(axis=1), 1)
    recall_plain, recall_balanced = (plain.predict(rare) == 1).mean(), (balanced.predict(rare) == 1).mean()
    assert recall_balanced > 0.6 and recall_balanced > recall_plain + 0.2, (recall_plain, recall_balanced)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_exported_trees_answer_what_the_trees_answer(n_classes, tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, n_classes, 600)
    x = rng.normal(0, 1, (600, 5)) + y[:, None] * rng.normal(0, 1, 5)  # classes apart on some columns
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values: the trees learn which side they go
    trees = BalancedTrees(seed=0).fit(x, y)
    ExportedTrees.from_trees(trees).save(tmp_path / "trees.npz")
    exported = ExportedTrees.load(tmp_path / "trees.npz")
    fresh = rng.normal(0, 2, (700, 5))  # more rows than one chunk
    fresh[rng.random(fresh.shape) < 0.05] = np.nan
    np.testing.assert_allclose(exported.predict_proba(fresh), trees.predict_proba(fresh), atol=1e-12, rtol=0)
    assert (exported.predict(fresh) == trees.predict(fresh)).all() and exported.n_features_in_ == 5
    assert exported.predict_proba(fresh[:0]).shape == (0, n_classes)


def test_the_ensemble_is_the_mean_of_its_calibrated_members():
    p = {"model1": np.array([[0.8, 0.2]]), "model2": np.array([[0.4, 0.6]]), "descriptors": np.array([[0.3, 0.7]])}
    np.testing.assert_allclose(ensemble_probabilities(p, {}), [[0.5, 0.5]])
    without = ensemble_probabilities({k: p[k] for k in ("model1", "model2")}, {})
    np.testing.assert_allclose(without, [[0.6, 0.4]])
