"""Models: the scratch CNN's plan and build, pretrained VGG16, test-set metrics of a model."""
